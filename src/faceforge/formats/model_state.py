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
    def from_json(cls, text: str, path: Path) -> ModelState:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"model state {path} is not valid JSON ({exc.msg})",
                              "restore it from the model folder's backups/ folder") from None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise FormatError(f"{path} is not a faceforge model state file",
                              "pass a model folder made by `faceforge train`")
        version = data.get("version")
        if not isinstance(version, int) or version > STATE_VERSION:
            raise FormatError(
                f"model {path.parent} was saved by a newer faceforge (state version {version}, "
                f"this one reads up to {STATE_VERSION})", "upgrade faceforge")
        try:
            sessions = [Session(**s) for s in data.get("sessions", [])]
            return cls(
                trainer=data["trainer"],
                model_config=data["model_config"],
                train_config=data.get("train_config", {}),
                iterations=int(data.get("iterations", 0)),
                sessions=sessions,
                files=dict(data.get("files", {})),
                loss=dict(data.get("loss", {})),
                tool_version=data.get("tool_version", ""),
                created=float(data.get("created", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"model state {path} is damaged ({exc})",
                              "restore it from the model folder's backups/ folder") from None


def read_state(model_dir: Path) -> ModelState | None:
    """The folder's state, or None if the folder holds no model yet."""
    path = Path(model_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        text = path.read_text()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror}") from None
    return ModelState.from_json(text, path)


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
