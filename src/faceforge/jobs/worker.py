"""Runs one job in its own process: `python -m faceforge.jobs.worker JOB_FOLDER`.

The worker builds the job's config from its folder, calls the library (the same call the CLI
makes), appends the structured events to events.jsonl and keeps status.json up to date. Its
own output (logging) goes to log.txt. SIGINT or SIGTERM is a stop: training saves, extraction
commits, conversion removes its partial output, and the job ends as "stopped". SIGUSR1 asks a
training job to save at the next iteration.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from faceforge import events
from faceforge.errors import FaceforgeError, Interrupted
from faceforge.io.files import atomic_write
from faceforge.jobs.folder import JobFolder
from faceforge.jobs.kinds import build_config, kind_of

log = logging.getLogger("faceforge")

FLUSH_EVERY_S = 0.5
PREVIEW_EVERY_S = 2.0


class EventWriter:
    """The job's event sink: events to events.jsonl, batched but never older than half a
    second; saves, previews, notes and failures go out at once."""

    urgent = (events.Saved, events.PreviewWritten, events.Note, events.Failed, events.Metrics)

    def __init__(self, job: JobFolder) -> None:
        self.job = job
        self.pending: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.lock = threading.Lock()  # convert reports from its blend thread

    def __call__(self, event: events.Event) -> None:
        record = {"t": round(time.time(), 3), **event.to_dict()}
        with self.lock:
            self.pending.append(record)
            if isinstance(event, self.urgent) or \
                    time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
                self._flush()
        if isinstance(event, events.Note):
            log.info(event.text)

    def flush(self) -> None:
        with self.lock:
            self._flush()

    def _flush(self) -> None:
        self.job.append_events(self.pending)
        self.pending = []
        self.last_flush = time.monotonic()


class FramePreview:
    """Convert's latest frame beside its source, as two JPEGs in the job folder, every few
    seconds (written atomically, then announced)."""

    def __init__(self, job: JobFolder, sink: EventWriter) -> None:
        self.job, self.sink = job, sink
        self.last = 0.0

    def __call__(self, index: int, source: Any, converted: Any) -> None:
        if time.monotonic() - self.last < PREVIEW_EVERY_S:
            return
        self.last = time.monotonic()
        import cv2

        for name, image in (("source", source), ("converted", converted)):
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, 85])
            if ok:
                atomic_write(self.job.path / f"frame_{name}.jpg", data.tobytes(), durable=False)
        self.sink(events.PreviewWritten(index, str(self.job.path / "frame_converted.jpg")))


def _summary(result: Any) -> Any:
    if isinstance(result, list):
        return [_summary(item) for item in result]
    if dataclasses.is_dataclass(result):
        return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)
                if f.name != "model"}
    return result


def _readable(result: Any, summary: Any) -> list[str]:
    """The result as the log shows it: a tool's own lines, else "name value" pairs."""
    if hasattr(result, "lines"):
        return list(result.lines())

    def value(item: Any) -> str:
        return f"{item:.3g}" if isinstance(item, float) else str(item)

    return [", ".join(f"{key.replace('_', ' ')} {value(item)}" for key, item in entry.items())
            if isinstance(entry, dict) else str(entry)
            for entry in (summary if isinstance(summary, list) else [summary])]


def run(job: JobFolder) -> int:
    request = job.request()
    command = request["command"]
    sink = EventWriter(job)
    stop = threading.Event()
    job.update_status(state="running", started=time.time())
    log.info("job %s: %s", job.id, request.get("command_line", command))
    try:
        config = build_config(command, request["values"])
        function = kind_of(command).function()
        extra: dict[str, Any] = {}
        if command == "train":
            save_now = threading.Event()
            signal.signal(signal.SIGUSR1, lambda *_: save_now.set())
            extra["save_now"] = save_now
        elif command == "convert":
            extra["on_frame"] = FramePreview(job, sink)
        result = function(config, sink, stop, **extra)
    except Interrupted as exc:
        sink.flush()
        log.info(exc.one_line())
        job.update_status(state="stopped", ended=time.time(), exit_code=exc.exit_code,
                          message=exc.one_line())
        return exc.exit_code
    except FaceforgeError as exc:
        sink(events.Failed(exc.message, exc.hint, exc.exit_code))
        log.error(exc.one_line())
        job.update_status(state="failed", ended=time.time(), exit_code=exc.exit_code,
                          message=exc.one_line())
        return exc.exit_code
    except BaseException as exc:  # a bug or out of memory: the GUI must still show it
        log.error("".join(traceback.format_exception(exc)))
        message = f"{type(exc).__name__}: {exc}"
        sink(events.Failed(message, "see the job's log", 1))
        job.update_status(state="failed", ended=time.time(), exit_code=1, message=message)
        return 1
    sink.flush()
    summary = _summary(result)
    job.write_result({"command": command, "result": summary})
    for line in _readable(result, summary):
        log.info("finished: %s", line)
    job.update_status(state="done", ended=time.time(), exit_code=0, message="finished")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m faceforge.jobs.worker JOB_FOLDER", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr, force=True)
    # SIGTERM (a GUI's stop, a shutdown) is handled like Ctrl-C: stop and keep what is done.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from faceforge.allocator import reuse_freed_memory

    reuse_freed_memory()  # the shell's setting, as the CLI applies it
    return run(JobFolder(Path(args[0])))


if __name__ == "__main__":
    sys.exit(main())
