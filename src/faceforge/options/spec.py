"""What an option is: flags, type, choices, default, help and group, in one definition.

The CLI builds argparse from these, the config dataclasses take their defaults from them
(`option_defaults`), and the GUI builds its forms from them. Choices that plugins provide are
named by where they live (`Choices("faceforge.plugins.detect:DETECTORS")`) and read from there
when first needed, so a new plugin shows up without an edit here and importing the option
definitions stays instant.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

_T = TypeVar("_T")


@dataclass(frozen=True)
class Choices:
    """The names a registry, dict or tuple offers, looked up at `source` ("module:attribute").

    `extra` adds names that are not plugins (such as "none"); `describe` gives a plugin's one-line
    summary for help texts and tooltips.
    """

    source: str
    extra: tuple[str, ...] = ()

    def _target(self) -> Any:
        module, _, attribute = self.source.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def names(self) -> tuple[str, ...]:
        target = self._target()
        if hasattr(target, "names"):  # a plugin Registry
            found = tuple(target.names())
        else:
            found = tuple(target)
        return found + tuple(name for name in self.extra if name not in found)

    def describe(self, name: str) -> str:
        target = self._target()
        summary = getattr(target, "summary", None)
        return summary(name) if summary is not None and name in target else ""


@dataclass(frozen=True)
class Option:
    """One option of one command.

    dest: the name of the config field it fills. flags: every spelling, ours first, then
    Faceswap's older ones. type: parses the command-line text. choices: a tuple, or `Choices`
    read from a registry. action: "store_true" for switches, "append" for repeatable options
    (their default applies when none is given). group: the section in --help and in the GUI.
    """

    dest: str
    flags: tuple[str, ...]
    help: str
    default: Any = None
    type: Callable[[str], Any] | None = None
    choices: tuple[Any, ...] | Choices | None = None
    action: str | None = None
    nargs: str | None = None
    required: bool = False
    metavar: str | None = None
    group: str = "main"

    @property
    def positional(self) -> bool:
        """Given by its place on the command line, not by a flag: its one "flag" is its name
        and has no leading dash (`tools alignments summary FILE`)."""
        return not any(flag.startswith("-") for flag in self.flags)

    def choice_names(self) -> tuple[Any, ...] | None:
        if isinstance(self.choices, Choices):
            return self.choices.names()
        return self.choices

    def config_default(self) -> Any:
        """The value a config field takes when the option is not given."""
        if self.action == "store_true":
            return False
        if self.action == "append" or self.nargs in ("+", "*"):
            return None if self.default is None else list(self.default)
        return self.default

    def default_text(self) -> str | None:
        """The default as --help shows it, or None when there is nothing to show."""
        if self.action == "store_true" or self.default in (None, (), []):
            return None
        if isinstance(self.default, (tuple, list)):
            return " ".join(str(value) for value in self.default)
        return str(self.default)

    def help_text(self) -> str:
        """Help with each plugin choice's summary and the default, for --help and tooltips."""
        text = self.help
        if isinstance(self.choices, Choices):
            described = [(name, self.choices.describe(name)) for name in self.choice_names()]
            if any(summary for _, summary in described):
                text += ": " + "; ".join(f"{name}: {summary}" if summary else name
                                         for name, summary in described)
        default = self.default_text()
        return f"{text} (default: {default})" if default is not None else text


@dataclass(frozen=True)
class OptionSet:
    """The options of one command, in the order --help and the GUI show them."""

    command: str
    options: tuple[Option, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for option in self.options:
            if option.dest in seen:
                raise ValueError(f"{self.command}: option {option.dest!r} defined twice")
            seen.add(option.dest)

    def __iter__(self) -> Iterator[Option]:
        return iter(self.options)

    def __len__(self) -> int:
        return len(self.options)

    def __getitem__(self, dest: str) -> Option:
        for option in self.options:
            if option.dest == dest:
                return option
        raise KeyError(f"{self.command} has no option {dest!r}")

    def __contains__(self, dest: object) -> bool:
        return any(option.dest == dest for option in self.options)

    def default(self, dest: str) -> Any:
        return self[dest].config_default()

    def __add__(self, other: Sequence[Option]) -> OptionSet:
        return OptionSet(self.command, self.options + tuple(other))


def option_defaults(options: OptionSet) -> Callable[[type[_T]], type[_T]]:
    """Class decorator, applied under @dataclass: each annotated field named like one of
    `options` gets that option's default, so a default is written once, in the option.

    Fields of required options get no default (declare them first); fields that are not
    options (such as `device`) give their own. A field that repeats an option's default is an
    error: the option is the one place for it.
    """

    def decorate(cls: type[_T]) -> type[_T]:
        for name in cls.__dict__.get("__annotations__", {}):
            if name not in options:
                continue
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__}.{name} repeats the default of its option")
            option = options[name]
            if option.required:
                continue
            value = option.config_default()
            if isinstance(value, (list, dict, set)):
                setattr(cls, name, dataclasses.field(default_factory=lambda v=value: copy.copy(v)))
            else:
                setattr(cls, name, value)
        return cls

    return decorate


# ---------------------------------------------------------------------------------------
# Parsers for option text; each raises ValueError, which argparse reports as one line.


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be 1 or more")
    return value


def snake_name(text: str) -> str:
    """For choices spelled with underscores (Faceswap's `unsharp_mask`, `ms_ssim`): case and
    `-`/`_` do not matter on the command line."""
    return text.strip().lower().replace("-", "_")


def rotations(text: str) -> tuple[int, ...]:
    """`-r 90` means every 90 degrees; `-r 90,270` lists angles."""
    parts = [int(p) for p in str(text).split(",") if p.strip()]
    if len(parts) == 1:
        step = parts[0]
        if step <= 0 or step >= 360:
            raise ValueError("rotation step must be between 1 and 359 degrees")
        return tuple(range(step, 360, step))
    return tuple(p % 360 for p in parts if p % 360)


def frame_range(text: str) -> tuple[int, int]:
    """`10-50` → (10, 50), inclusive, 0-based frame indices; `7` → (7, 7)."""
    start, sep, end = text.partition("-")
    if not sep:
        return int(start), int(start)
    first, last = int(start), int(end)
    if first < 0 or last < first:
        raise ValueError("a frame range is START-END with 0 <= START <= END")
    return first, last
