"""The model folder's state file: which trainer, its full config, iterations, sessions, losses.

A model folder holds `state.json` plus the weights and optimizer files it names. A save writes
new, iteration-numbered weight files first (fsynced), then replaces `state.json` atomically,
then deletes the files the old state named. A kill at any moment leaves `state.json` pointing at
complete files: the previous save's or the new one's.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faceforge.errors import FormatError, ModelError, OutputError
from faceforge.formats.json_text import JsonProblem, parse_json
from faceforge.io.files import atomic_write

STATE_FILE = "state.json"
STATE_FORMAT = "faceforge-model"
STATE_VERSION = 1


@dataclass
class Session:
    """One run of `train`: when, how long, how fast."""

    start: float  # unix time
    end: float | None = None
    start_iteration: int = 0
    iterations: int = 0
    batch_size: int = 0
    egs_per_s: float | None = None


@dataclass
class ModelState:
    trainer: str
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    iterations: int = 0
    sessions: list[Session] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # role -> file name in the folder
    loss: dict[str, Any] = field(default_factory=dict)  # last/best averages per side
    tool_version: str = ""
    created: float = field(default_factory=time.time)

    def to_json(self) -> str:
        data = {"format": STATE_FORMAT, "version": STATE_VERSION, **asdict(self)}
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, path: Path) -> ModelState:
        """The state in `text`; anything but a valid state is one `FormatError` naming `path`
        (a damaged file: bad bytes, wrong types, absurd nesting)."""
        try:
            data = parse_json(text)
        except JsonProblem as exc:
            raise FormatError(f"model state {path} is damaged: {exc}", _RESTORE_HINT) from None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise FormatError(f"{path} is not a faceforge model state file",
                              "pass a model folder made by `faceforge train`")
        version = data.get("version")
        if not isinstance(version, int) or version > STATE_VERSION:
            raise FormatError(
                f"model {path.parent} was saved by a newer faceforge (state version {version}, "
                f"this one reads up to {STATE_VERSION})", "upgrade faceforge")
        try:
            return cls(
                trainer=_typed(data, "trainer", str),
                model_config=_typed(data, "model_config", dict),
                train_config=_typed(data, "train_config", dict, {}),
                iterations=_count(data.get("iterations", 0)),
                sessions=[Session(**_typed_value(s, dict, "a session"))
                          for s in _typed(data, "sessions", list, [])],
                files=_file_names(_typed(data, "files", dict, {})),
                loss=_typed(data, "loss", dict, {}),
                tool_version=str(data.get("tool_version", "")),
                created=float(data.get("created", 0.0)),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise FormatError(f"model state {path} is damaged ({exc})", _RESTORE_HINT) from None


_RESTORE_HINT = "restore it from the model folder's backups/ folder"


def _typed_value(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"{what} is {type(value).__name__}, not {kind.__name__}")
    return value


def _typed(data: dict[str, Any], key: str, kind: type, *default: Any) -> Any:
    if key not in data and default:
        return default[0]
    return _typed_value(data[key], kind, repr(key))


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"'iterations' is {value!r}, not a count")
    return value


def _file_names(files: dict[str, Any]) -> dict[str, str]:
    """Role -> file name; a name must stay inside the model folder."""
    for role, name in files.items():
        if not isinstance(name, str) or not name or "/" in name or "\\" in name \
                or name in (".", ".."):
            raise ValueError(f"file of {role!r} is {name!r}, not a file name in the folder")
    return dict(files)


def read_state(model_dir: Path) -> ModelState | None:
    """The folder's state, or None if the folder holds no model yet."""
    path = Path(model_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror}") from None
    return ModelState.from_json(data, path)


def write_state(model_dir: Path, state: ModelState) -> None:
    """Replace state.json atomically and durably (see `faceforge.io.files.atomic_write`).

    Raises OSError, as the weight files written before it do, so that a failed save is
    handled in one place by the caller, which also removes those files.
    """
    try:
        atomic_write(Path(model_dir) / STATE_FILE, state.to_json())
    except OutputError as exc:
        if isinstance(exc.__cause__, OSError):
            raise exc.__cause__ from None
        raise
