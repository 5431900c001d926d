"""Progress as structured events: what a long job tells its front end while it runs.

Every job (extract, train, convert) takes an optional `on_event` callable and calls it with
these small frozen dataclasses. The CLI renders them with tqdm; the GUI's worker writes them
(as `to_dict()`) to the job's folder. Nobody parses text. Events are plain data, cheap to make,
and carry their numbers with units in their names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the event's kind and fields (paths as strings)."""
        data = {"kind": self.kind}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            data[item.name] = str(value) if hasattr(value, "__fspath__") else value
        return data


@dataclass(frozen=True)
class Progress(Event):
    """How far a job is: `done` of `total` `unit`s (frames, iterations), rate and ETA.

    counts: running totals worth showing beside the bar (faces found, faces swapped).
    """

    kind: ClassVar[str] = "progress"
    done: int
    total: int
    unit: str
    rate_per_s: float = 0.0
    eta_s: float | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Losses(Event):
    """One training iteration's losses and the speed so far (Faceswap's EGs/s)."""

    kind: ClassVar[str] = "losses"
    iteration: int
    loss_a: float
    loss_b: float
    egs_per_s: float


@dataclass(frozen=True)
class Metrics(Event):
    """Scores measured at a save (e.g. the identity match of A→B swaps)."""

    kind: ClassVar[str] = "metrics"
    iteration: int
    values: dict[str, float]


@dataclass(frozen=True)
class Saved(Event):
    """Something is safely on disk: `what` is "model", "backup" or "snapshot"."""

    kind: ClassVar[str] = "saved"
    iteration: int
    what: str
    path: str


@dataclass(frozen=True)
class PreviewWritten(Event):
    """A preview or time-lapse image was written (atomically: it can be read at once)."""

    kind: ClassVar[str] = "preview"
    iteration: int
    path: str


@dataclass(frozen=True)
class Note(Event):
    """A choice or fact the user should see, such as the precision a job measured and chose."""

    kind: ClassVar[str] = "note"
    text: str


@dataclass(frozen=True)
class Failed(Event):
    """The job stopped on an error: the one line the CLI would print, and its exit code."""

    kind: ClassVar[str] = "failed"
    message: str
    hint: str | None
    exit_code: int


EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The sink for callers that want no events."""
