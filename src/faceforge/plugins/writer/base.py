"""The writer contract: every output writer of `faceforge convert` takes, per frame in
increasing index order, the converted frame and the swapped face patches of that frame, and
uses what it needs. Also the helpers that writers' option dataclasses validate with."""

from __future__ import annotations

import errno
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from faceforge.errors import OutputError, UsageError
from faceforge.io.files import ensure_writable_dir, output_error
from faceforge.io.source import SourceInfo
from faceforge.plugins.registry import Registry

if TYPE_CHECKING:  # only for annotations: importing the writers must not load numpy
    import numpy as np

    from faceforge.formats.patch_png import FacePatch


def check_options(writer: str, options_class: type, given: dict[str, Any]) -> Any:
    """Build an options dataclass, rejecting unknown names with the list of valid ones."""
    valid = [field.name for field in fields(options_class)]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise UsageError(
            f"unknown option(s) for the {writer} writer: {', '.join(unknown)}",
            f"valid options are: {', '.join(valid)}",
        )
    return options_class(**given)


def choice(what: str, value: object, valid: Sequence[str]) -> str:
    """`value` lower-cased if it is one of `valid`, else a UsageError listing them."""
    if not isinstance(value, str) or value.lower() not in valid:
        raise UsageError(f"unknown {what} {value!r}", f"choose one of: {', '.join(valid)}")
    return value.lower()


def whole_number(what: str, value: object, low: int, high: int) -> int:
    """`value` if it is an int from `low` to `high`, else a UsageError saying so."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(
            f"{what} must be a whole number from {low} to {high}, got {value!r}",
            f"give {what} between {low} and {high}",
        )
    return value


def _is_disk_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)


class Writer(ABC):
    """Writes the converted output of one source to `out_dir`.

    Use it as a context manager: leaving the block normally calls `close()` (finalise the output
    under its final name), leaving it with an exception calls `abort()` (remove partial output).
    `write(index, frame, patches)` is called once per frame in increasing index order; indices
    may be skipped (frame ranges without keep-unchanged), and each writer documents what it
    does then. A writer that does not use frames (`uses_frame` False) may be given None
    instead, so the caller can skip blending; all frames of one output have the same size.
    """

    name: ClassVar[str] = ""
    #: whether `write` needs the converted frame (H x W x 3 uint8 RGB)
    uses_frame: ClassVar[bool] = True
    #: whether `write` needs the swapped face patches
    uses_patches: ClassVar[bool] = False
    options_class: ClassVar[type]

    def __init__(
        self, info: SourceInfo, out_dir: str | os.PathLike[str], options: Any = None
    ) -> None:
        self.info = info
        self.out_dir = ensure_writable_dir(out_dir)
        if options is None:
            options = self.options_class()
        elif isinstance(options, dict):
            options = check_options(self.name, self.options_class, options)
        self.options = options
        self.frames_written = 0
        self._last_index = -1
        self._finished = False

    # -- the contract -----------------------------------------------------------------------

    def write(
        self, index: int, frame: np.ndarray | None, patches: Sequence[FacePatch] = ()
    ) -> None:
        """Add the frame with source index `index` (0-based) to the output: `frame` is the
        converted frame, `patches` the swapped faces in it."""
        if self._finished:
            raise ValueError(f"{self.name} writer for {self.info.stem} is already closed")
        if index <= self._last_index:
            raise ValueError(f"frame {index} arrived after frame {self._last_index}")
        if self.uses_frame:
            if frame is None:
                raise ValueError(f"the {self.name} writer needs the converted frame")
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype.name != "uint8":
                raise ValueError(
                    f"expected an H x W x 3 uint8 RGB frame, got {frame.dtype} {frame.shape}"
                )
        try:
            self._write(index, frame, patches)
        except BaseException as exc:
            self._fail("writing", exc)
            raise
        self._last_index = index
        self.frames_written += 1

    def close(self) -> None:
        """Finish the output and give it its final name. Safe to call twice."""
        if self._finished:
            return
        try:
            self._close()
        except BaseException as exc:
            self._fail("finishing", exc)
            raise
        self._finished = True

    def abort(self) -> None:
        """Stop and remove whatever is not complete. Safe to call twice, and after close()."""
        if self._finished:
            return
        self._finished = True
        self._abort()

    def describe_output(self) -> str:
        """The output for messages: a file or a file name pattern."""
        return str(self.out_dir)

    def _fail(self, action: str, exc: BaseException) -> None:
        """Remove the partial output, then raise OS errors as `OutputError` (the caller
        re-raises anything else, Ctrl-C included, as it is)."""
        self.abort()
        if _is_disk_full(exc):
            raise OutputError(
                f"disk full while {action} {self.describe_output()}; partial output removed",
                hint="free some space on that disk or choose an output folder on another disk",
            ) from exc
        if isinstance(exc, OSError):
            raise output_error(action, Path(self.describe_output()), exc) from exc

    def __enter__(self) -> Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- for subclasses ---------------------------------------------------------------------

    @abstractmethod
    def _write(
        self, index: int, frame: np.ndarray | None, patches: Sequence[FacePatch]
    ) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...


WRITERS: Registry[type[Writer]] = Registry("writer")
