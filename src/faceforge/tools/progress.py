"""Progress of a tool as `Progress` events: counted items, rate and ETA, and the stop check."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from faceforge.errors import Interrupted
from faceforge.events import EventSink, Progress, ignore

# Events at most this often (the last one always goes out): a GUI needs no more.
_MIN_INTERVAL_S = 0.2


class Counter:
    """Counts `done` of `total` `unit`s and reports them; `check_stop` raises Interrupted
    when the caller's stop event is set, with `what` was stopped in its message."""

    def __init__(self, total: int, unit: str, on_event: EventSink | None,
                 stop: threading.Event | None, what: str) -> None:
        self.total = total
        self.unit = unit
        self.emit = on_event or ignore
        self.stop = stop
        self.what = what
        self.done = 0
        self.counts: dict[str, int] = {}
        self.started = time.perf_counter()
        self.last = 0.0
        self.emit(Progress(0, total, unit))

    def check_stop(self, hint: str = "nothing was changed") -> None:
        if self.stop is not None and self.stop.is_set():
            raise Interrupted(f"{self.what} stopped after {self.done} of {self.total} "
                              f"{self.unit}s", hint)

    def advance(self, count: int = 1, **counts: int) -> None:
        self.done += count
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        now = time.perf_counter()
        if now - self.last < _MIN_INTERVAL_S and self.done < self.total:
            return
        self.last = now
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = max(0, self.total - self.done)
        self.emit(Progress(self.done, self.total, self.unit, rate,
                           left / rate if rate > 0 else None, dict(self.counts)))


@contextmanager
def interruptible(what: str, hint: str) -> Iterator[None]:
    """Turns Ctrl-C (KeyboardInterrupt; a job's SIGTERM too) inside the block into
    `Interrupted`, saying what was stopped and what became of the files."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(f"{what} stopped", hint) from None
