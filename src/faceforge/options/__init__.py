"""Every command's options, each defined once: flags, type, choices, default, help, group.

argparse (cli.py), the config dataclasses (`option_defaults`) and the GUI's forms all read
these. Importing this package loads no plugin: choices that plugins provide are read from their
registries when first asked for.
"""

from faceforge.options.common import LOG_OPTIONS
from faceforge.options.convert import CONVERT_OPTIONS
from faceforge.options.extract import EXTRACT_OPTIONS
from faceforge.options.spec import Choices, Option, OptionSet, option_defaults
from faceforge.options.tools import TOOL_HELP, TOOL_OPTIONS
from faceforge.options.train import TRAIN_OPTIONS

COMMANDS: dict[str, OptionSet] = {
    options.command: options
    for options in (EXTRACT_OPTIONS, TRAIN_OPTIONS, CONVERT_OPTIONS, *TOOL_OPTIONS)
}

__all__ = [
    "COMMANDS",
    "CONVERT_OPTIONS",
    "EXTRACT_OPTIONS",
    "LOG_OPTIONS",
    "TOOL_HELP",
    "TOOL_OPTIONS",
    "TRAIN_OPTIONS",
    "Choices",
    "Option",
    "OptionSet",
    "option_defaults",
]
