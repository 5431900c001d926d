"""What the live views show, computed from a job's folder and the files it writes: progress,
the loss graph's series, the Analysis table, the latest faces, summaries. No gradio here."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceforge.formats.model_state import read_state
from faceforge.jobs.folder import JobFolder

MAX_POINTS = 1500  # per curve: more do not show and slow the browser


@dataclass
class JobEvents:
    """A job's events, read incrementally (each poll reads only what is new)."""

    job: JobFolder
    offset: int = 0
    progress: dict[str, Any] | None = None
    losses: list[tuple[int, float, float]] = field(default_factory=list)
    egs_per_s: float | None = None
    notes: list[str] = field(default_factory=list)
    saved_iteration: int | None = None
    previews: int = 0  # how many previews were written (to refresh images when it changes)
    failure: dict[str, Any] | None = None

    def update(self) -> JobEvents:
        new, self.offset = self.job.read_events(self.offset)
        for event in new:
            kind = event.get("kind")
            if kind == "progress":
                self.progress = event
            elif kind == "losses":
                self.losses.append((event["iteration"], event["loss_a"], event["loss_b"]))
                self.egs_per_s = event["egs_per_s"]
            elif kind == "note":
                self.notes.append(event["text"])
            elif kind == "saved" and event.get("what") == "model":
                self.saved_iteration = event["iteration"]
            elif kind == "preview":
                self.previews += 1
            elif kind == "failed":
                self.failure = event
        return self


def progress_text(events: JobEvents) -> str:
    """One line: how far, how fast, how long still, and the job's own counts."""
    status = events.job.status()
    p = events.progress
    parts = [f"**{status.state}**", f"job {events.job.id}"]
    if p and p.get("total"):
        parts.append(f"{p['done']} of {p['total']} {p['unit']}s "
                     f"({100 * p['done'] / max(1, p['total']):.0f}%)")
        if p.get("unit") == "iteration" and events.egs_per_s:
            parts.append(f"{events.egs_per_s:.1f} EGs/s")
        elif p.get("rate_per_s"):
            parts.append(f"{p['rate_per_s']:.1f} {p['unit']}s/s")
        if p.get("eta_s") is not None and not status.finished:
            parts.append(f"ETA {_duration(p['eta_s'])}")
        parts += [f"{name.replace('_', ' ')}: {count}" for name, count in
                  (p.get("counts") or {}).items()]
    duration = status.duration_s()
    if duration is not None:
        parts.append(f"running {_duration(duration)}" if not status.finished
                     else f"took {_duration(duration)}")
    line = " · ".join(parts)
    if status.message and status.state in ("failed", "stopped"):
        line += f"  \n{status.message}"
    return line


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# -------------------------------------------------------------------------------------------
# Training: the graph and the Analysis table


@dataclass
class _LossLog:
    """What was read of one model's loss log: only lines added since are parsed."""

    key: tuple[int, int] = (0, 0)  # the file's inode and where reading stopped
    losses: list[tuple[int, float, float]] = field(default_factory=list)
    scores: list[dict] = field(default_factory=list)


_LOSS_LOGS: dict[Path, _LossLog] = {}
_LOSS_LOGS_LOCK = threading.Lock()


def read_loss_log(model_dir: Path) -> tuple[list[tuple[int, float, float]], list[dict]]:
    """The saved history: per-iteration losses and the scores measured at saves. The log only
    grows while a training runs; a log replaced or cut is read again from its start."""
    path = Path(model_dir) / "loss_log.jsonl"
    with _LOSS_LOGS_LOCK:
        try:
            with open(path, "rb") as file:
                stat = os.fstat(file.fileno())
                known = _LOSS_LOGS.get(path)
                if known is None or known.key[0] != stat.st_ino or known.key[1] > stat.st_size:
                    known = _LOSS_LOGS[path] = _LossLog(key=(stat.st_ino, 0))
                file.seek(known.key[1])
                added = file.read()
        except OSError:
            _LOSS_LOGS.pop(path, None)
            return [], []
        complete = added[:added.rfind(b"\n") + 1]  # a line being written waits for next time
        known.key = (known.key[0], known.key[1] + len(complete))
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if "loss_a" in record:
                known.losses.append((record["iteration"], record["loss_a"], record["loss_b"]))
            elif any(key.startswith("identity/") for key in record):
                known.scores.append(record)
        return list(known.losses), list(known.scores)


def loss_history(model_dir: Path, live: JobEvents | None) -> list[tuple[int, float, float]]:
    """Saved losses, then the live ones past them (a resumed run repeats none)."""
    saved, _ = read_loss_log(model_dir)
    by_iteration = {iteration: (iteration, a, b) for iteration, a, b in saved}
    if live is not None:
        for iteration, a, b in live.losses:
            by_iteration.setdefault(iteration, (iteration, a, b))
    return [by_iteration[i] for i in sorted(by_iteration)]


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average, debiased at the start."""
    if weight <= 0 or len(values) == 0:
        return values
    out = np.empty_like(values, dtype=np.float64)
    last, steps = 0.0, 0
    for index, value in enumerate(values):
        last = last * weight + (1 - weight) * value
        steps += 1
        out[index] = last / (1 - weight ** steps)
    return out


def _thin(iterations: np.ndarray, *series: np.ndarray) -> list[np.ndarray]:
    """At most MAX_POINTS points, keeping each bucket's mean (the shape, not one sample)."""
    if len(iterations) <= MAX_POINTS:
        return [iterations, *series]
    edges = np.linspace(0, len(iterations), MAX_POINTS + 1).astype(int)
    def means(values: np.ndarray) -> np.ndarray:
        return np.array([values[a:b].mean() for a, b in zip(edges[:-1], edges[1:],
                                                            strict=True)])
    return [means(iterations), *(means(s) for s in series)]


def graph_series(history: list[tuple[int, float, float]], smoothing: float, last_n: int,
                 log_scale: bool, window: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Iterations and, for each side, its losses raw and smoothed (log10 with `log_scale`),
    at most MAX_POINTS of each."""
    data = np.asarray(history, dtype=np.float64).reshape(-1, 3)
    if window is not None:
        data = data[(data[:, 0] > window[0]) & (data[:, 0] <= window[1])]
    if last_n and len(data):
        data = data[data[:, 0] > data[-1, 0] - last_n]
    if not len(data):
        return np.zeros(0), {}
    iterations, loss_a, loss_b = data[:, 0], data[:, 1], data[:, 2]
    curves = {"A": loss_a, "B": loss_b}
    if smoothing > 0:
        curves.update({"A smoothed": smooth(loss_a, smoothing),
                       "B smoothed": smooth(loss_b, smoothing)})
    thinned = _thin(iterations, *curves.values())
    if log_scale:
        with np.errstate(divide="ignore", invalid="ignore"):
            thinned[1:] = [np.where(c > 0, np.log10(c), np.nan) for c in thinned[1:]]
    return thinned[0], dict(zip(curves, thinned[1:], strict=True))


# The scores at each save, as the Graph names them.
SCORE_SERIES = (("identity/a2b_to_b", "A->B to B"), ("identity/a2b_to_a", "A->B to A"),
                ("quality/a2b_mouth_correlation", "mouth kept"),
                ("quality/a2b_sharpness_ratio", "sharpness"))


def score_series(model_dir: Path) -> tuple[list[int], dict[str, list[float | None]]]:
    """The scores at each save: distance of A→B swaps to B and to A, and how well they keep
    A's mouth opening (correlation) and how sharp they are (ratio to A's faces)."""
    _, scores = read_loss_log(model_dir)
    iterations = [int(record["iteration"]) for record in scores]
    series = {name: [float(r[key]) if key in r else None for r in scores]
              for key, name in SCORE_SERIES if any(key in r for r in scores)}
    return iterations, series


SESSION_HEADERS = ["session", "start", "end", "elapsed", "batch", "iterations", "EGs/s"]


def analysis_rows(model_dir: Path, live: JobEvents | None = None) -> list[list[Any]]:
    """Faceswap's Analysis: one row per session and a total (all examples / all time).
    A session still running shows its live numbers."""
    try:
        state = read_state(model_dir)
    except Exception:  # a damaged state: show nothing rather than break the page
        state = None
    if state is None:
        return []
    rows, examples, elapsed_total = [], 0.0, 0.0
    for number, session in enumerate(state.sessions, 1):
        iterations, egs = session.iterations, session.egs_per_s
        end = session.end
        running = live is not None and number == len(state.sessions) and \
            not live.job.status().finished
        if running and live.losses:
            iterations = live.losses[-1][0] - session.start_iteration
            egs, end = live.egs_per_s, time.time()
        elapsed = (end - session.start) if end else 0.0
        if iterations and elapsed:
            examples += iterations * session.batch_size * 2
            elapsed_total += elapsed
        rows.append([number, _clock(session.start), "running" if running else _clock(end),
                     _duration(elapsed), session.batch_size, iterations,
                     round(egs, 1) if egs else ""])
    if rows:
        total = round(examples / elapsed_total, 1) if elapsed_total else ""
        rows.append(["total", _clock(state.sessions[0].start), "", _duration(elapsed_total),
                     "", sum(int(r[5] or 0) for r in rows), total])
    return rows


def _clock(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else ""


def analysis_csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SESSION_HEADERS)
    writer.writerows(rows)
    return out.getvalue()


# -------------------------------------------------------------------------------------------
# Extraction


def latest_faces(folder: Path, count: int = 8) -> list[str]:
    """The newest face images of an extraction, newest first."""
    try:
        files = [p for p in Path(folder).glob("*.png") if not p.name.startswith(".")]
    except OSError:
        return []
    files.sort(key=lambda p: p.stat().st_mtime if p.exists() else 0, reverse=True)
    return [str(p) for p in files[:count]]


def contact_sheet(folder: Path, target: Path, columns: int = 10, tile: int = 96,
                  most: int = 100) -> Path | None:
    """A grid of (every Nth of) the faces in `folder`, to look over an extraction at once."""
    import cv2

    from faceforge.io.files import atomic_write

    files = sorted(p for p in Path(folder).glob("*.png") if not p.name.startswith("."))
    if not files:
        return None
    step = max(1, math.ceil(len(files) / most))
    chosen = files[::step]
    rows = math.ceil(len(chosen) / columns)
    sheet = np.full((rows * tile, columns * tile, 3), 255, np.uint8)
    for index, path in enumerate(chosen):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        row, column = divmod(index, columns)
        sheet[row * tile:(row + 1) * tile, column * tile:(column + 1) * tile] = cv2.resize(
            image, (tile, tile), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if ok:
        atomic_write(target, data.tobytes(), durable=False)
        return target
    return None


def store_summary(alignments: Path) -> str:
    from faceforge.formats.alignments import AlignmentsStore

    with AlignmentsStore.open(alignments, "r") as store:
        summary = store.summary()
    return (f"{summary['frames']} frames, {summary['faces']} faces; "
            f"{summary['frames_without_faces']} frames without a face, "
            f"{summary['frames_with_multiple_faces']} with several")
