"""The jobs a front end can run: each is a command's options, its config and its library call.

A job is described by plain values (option dest → value, as JSON), so it can be written to a
job folder, run by a worker process and shown as the command line that does the same.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from faceforge.errors import UsageError
from faceforge.options import COMMANDS, Option, OptionSet

# Options of the shell, not of the job: a job logs at INFO into its own log file.
_SHELL_ONLY = {"loglevel", "logfile"}


@dataclass(frozen=True)
class JobKind:
    """One runnable command: `config` and `run` are "module:attribute" names, imported when
    a job of this kind is built or run (a GUI that only lists jobs imports no pipeline)."""

    command: str
    config: str
    run: str
    uses_device: bool = True  # queued one per device; light tools run at once

    @property
    def options(self) -> OptionSet:
        return COMMANDS[self.command]

    def config_class(self) -> type:
        return _resolve(self.config)

    def function(self) -> Callable[..., Any]:
        return _resolve(self.run)


def _resolve(name: str) -> Any:
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


_JOBS = (
    JobKind("extract", "faceforge.pipeline.extract:ExtractConfig",
            "faceforge.pipeline.extract:extract_all"),
    JobKind("train", "faceforge.training.config:TrainConfig",
            "faceforge.training.loop:train"),
    JobKind("convert", "faceforge.pipeline.convert:ConvertConfig",
            "faceforge.pipeline.convert:convert"),
    JobKind("report", "faceforge.pipeline.report:ReportConfig",
            "faceforge.pipeline.report:report"),
)


def _tool(command: str, module: str, config: str, run: str, uses_device: bool = False,
          ) -> JobKind:
    return JobKind(command, f"faceforge.tools.{module}:{config}",
                   f"faceforge.tools.{module}:{run}", uses_device)


# The tools: light ones run at once; those that run a network (identity descriptors, model
# export) queue for the device like the three jobs.
_TOOLS = (
    _tool("tools alignments summary", "alignments", "SummaryConfig", "summary"),
    _tool("tools alignments export", "alignments", "ExportConfig", "export_alignments"),
    _tool("tools alignments import", "alignments", "ImportConfig", "import_alignments"),
    _tool("tools alignments import-faces", "alignments", "ImportFacesConfig", "import_faces"),
    _tool("tools alignments missing-frames", "alignments", "FrameListConfig",
          "missing_frames"),
    _tool("tools alignments multi-faces", "alignments", "FrameListConfig", "multi_faces"),
    _tool("tools alignments no-faces", "alignments", "FrameListConfig", "no_faces"),
    _tool("tools alignments remove-faces", "alignments", "RemoveFacesConfig", "remove_faces"),
    _tool("tools alignments extract", "alignments", "ExtractFacesConfig", "extract_faces"),
    _tool("tools alignments draw", "alignments", "DrawConfig", "draw"),
    _tool("tools alignments smooth", "smooth", "SmoothConfig", "run"),
    _tool("tools alignments merge", "alignments", "MergeConfig", "merge"),
    _tool("tools alignments rename", "alignments", "RenameConfig", "rename"),
    _tool("tools sort", "sort", "SortConfig", "run", uses_device=True),
    _tool("tools mask generate", "mask", "GenerateConfig", "generate"),
    _tool("tools mask export", "mask", "ExportConfig", "export_masks"),
    _tool("tools mask import", "mask", "ImportConfig", "import_masks"),
    _tool("tools mask preview", "mask", "PreviewConfig", "preview"),
    _tool("tools media info", "media", "InfoConfig", "info"),
    _tool("tools media frames", "media", "FramesConfig", "frames"),
    _tool("tools media video", "media", "VideoConfig", "video"),
    _tool("tools media slice", "media", "SliceConfig", "slice_video"),
    _tool("tools media mux-audio", "media", "MuxAudioConfig", "add_audio"),
    _tool("tools media rescale", "media", "RescaleConfig", "rescale"),
    _tool("tools media rotate", "media", "RotateConfig", "rotate"),
    _tool("tools model info", "model", "InfoConfig", "info"),
    _tool("tools model restore", "model", "RestoreConfig", "restore"),
    _tool("tools model nan-scan", "model", "NanScanConfig", "nan_scan"),
    _tool("tools model export", "model", "ExportConfig", "export", uses_device=True),
    _tool("tools faces report", "faces_report", "ReportConfig", "run", uses_device=True),
)

KINDS: dict[str, JobKind] = {kind.command: kind for kind in (*_JOBS, *_TOOLS)}


def kind_of(command: str) -> JobKind:
    try:
        return KINDS[command]
    except KeyError:
        raise UsageError(f"unknown job {command!r}", f"choose one of: {', '.join(KINDS)}") \
            from None


def parse_value(option: Option, value: Any) -> Any:
    """A form's value for `option` as the config wants it: text parsed by the option's type,
    choices checked, empty meaning "not given". Raises UsageError naming the option."""
    flag = next((f for f in option.flags if f.startswith("--")), option.flags[0])
    if option.action == "store_true":
        return bool(value)
    if value is None or value == "" or value == []:
        if option.required:
            raise UsageError(f"{flag} is required", option.help)
        return option.config_default()
    many = option.action == "append" or option.nargs in ("+", "*")
    items = list(value) if many and isinstance(value, (list, tuple)) else [value]
    if many and isinstance(value, str):
        items = value.split()
    parsed = []
    for item in items:
        try:
            item = option.type(str(item)) if option.type is not None else item
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{flag} {item!r} is not valid ({exc})", option.help) from None
        choices = option.choice_names()
        if choices is not None and item not in choices:
            raise UsageError(f"{flag} {item!r} is not one of {', '.join(map(str, choices))}")
        parsed.append(item)
    return parsed if many else parsed[0]


def build_config(command: str, values: dict[str, Any]) -> Any:
    """The job's config from form values; every option is checked the way the CLI checks it,
    so a bad value is refused before any job starts."""
    kind = kind_of(command)
    config_class = kind.config_class()
    names = {item.name for item in fields(config_class)}
    unknown = sorted(set(values) - {o.dest for o in kind.options})
    if unknown:
        raise UsageError(f"{command} has no option {', '.join(unknown)}")
    arguments = {option.dest: parse_value(option, values.get(option.dest))
                 for option in kind.options if option.dest in names}
    return config_class(**arguments)


def command_line(command: str, values: dict[str, Any]) -> str:
    """The `faceforge ...` command that runs the same job, leaving out options at default."""
    words = ["faceforge", *command.split()]
    for option in kind_of(command).options:
        if option.dest in _SHELL_ONLY:
            continue
        value = values.get(option.dest)
        if option.positional:
            if value is not None and value != "":
                words.append(_text(value))
            continue
        flag = next((f for f in option.flags if f.startswith("--")), option.flags[0])
        if option.action == "store_true":
            if value:
                words.append(flag)
            continue
        if value is None or value == "" or value == []:
            continue
        many = option.action == "append" or option.nargs in ("+", "*")
        if many:
            items = value.split() if isinstance(value, str) else list(value)
        else:
            items = [value]
        default = option.default if isinstance(option.default, (list, tuple)) else \
            [option.default]
        if len(items) == len(default) and all(_same(i, d) for i, d in zip(items, default,
                                                                          strict=True)):
            continue  # the default: no need to say it
        if option.action == "append":
            for item in items:
                words += [flag, _text(item)]
        else:
            words += [flag, *(_text(item) for item in items)]
    return shlex.join(words)


def _same(value: Any, default: Any) -> bool:
    """Whether a form value is the option's default (a number box gives 4 for 4.0)."""
    if isinstance(value, (int, float, str)) and isinstance(default, (int, float)) \
            and not isinstance(default, bool):
        try:
            return float(value) == float(default)
        except ValueError:
            return False
    return _text(value) == _text(default)


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):  # frame ranges and rotations
        if len(value) == 2 and all(isinstance(v, int) for v in value):
            return f"{value[0]}-{value[1]}"
        return ",".join(str(v) for v in value)
    return str(value)
