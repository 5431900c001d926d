"""Every command's options, each defined once: flags, type, choices, default, help, group.

argparse (cli.py), the config dataclasses (`option_defaults`) and the GUI's forms all read
these. Importing this package loads no plugin: choices that plugins provide are read from their
registries when first asked for.
"""

from faceforge.options.common import LOG_OPTIONS
from faceforge.options.convert import CONVERT_OPTIONS
from faceforge.options.extract import EXTRACT_OPTIONS
from faceforge.options.gui import GUI_OPTIONS
from faceforge.options.models import MODELS_FETCH, MODELS_LIST
from faceforge.options.report import REPORT_OPTIONS
from faceforge.options.spec import Choices, Option, OptionSet, option_defaults
from faceforge.options.tools import TOOL_HELP, TOOL_OPTIONS
from faceforge.options.train import TRAIN_OPTIONS

# The jobs: each has a config dataclass and a library call (faceforge.jobs.kinds).
COMMANDS: dict[str, OptionSet] = {
    options.command: options
    for options in (EXTRACT_OPTIONS, TRAIN_OPTIONS, CONVERT_OPTIONS, REPORT_OPTIONS,
                    *TOOL_OPTIONS)
}
# Commands of the shell itself.
SHELL_COMMANDS: dict[str, OptionSet] = {
    options.command: options for options in (GUI_OPTIONS, MODELS_FETCH, MODELS_LIST)}

__all__ = [
    "COMMANDS",
    "CONVERT_OPTIONS",
    "EXTRACT_OPTIONS",
    "GUI_OPTIONS",
    "LOG_OPTIONS",
    "REPORT_OPTIONS",
    "SHELL_COMMANDS",
    "TOOL_HELP",
    "TOOL_OPTIONS",
    "TRAIN_OPTIONS",
    "Choices",
    "Option",
    "OptionSet",
    "option_defaults",
]
