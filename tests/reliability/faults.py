"""Fault injection: kill -9 a faceforge command at a random time or at a moment that matters,
rerun it, and check that the rerun gives the clean, complete result with no temporary or
partial file left. Shared by tests/reliability/test_kills.py (a rotating seeded subset in CI)
and benchmarks/kill_suite.py (all of them, with a table)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

KILLER = Path(__file__).with_name("killer.py")
SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class Shared:
    """Read-only inputs every kill may use."""

    video: Path  # lp_d18.mp4
    store: Path  # its alignments store (every 4th frame: 54 frames, one face each)
    faces_a: Path
    faces_b: Path
    small_model: Path  # a tiny `quick` model at iteration 1


@dataclass
class Stage:
    name: str
    #: the command, for a work folder and the moment of the kill
    argv: Callable[[Shared, Path, str], list[str]]
    #: (moment, how many times it is reached in one run) for the moments that matter
    moments: list[tuple[str, int]]
    #: seconds after the start within which a random kill lands
    random_window_s: tuple[float, float]
    #: checks the work folder after the rerun; returns a problem or None
    check: Callable[[Shared, Path], str | None]
    prepare: Callable[[Shared, Path], None] = lambda shared, work: None
    #: whether the result of a run that finished before the kill is already final (a rerun
    #: would refuse to overwrite it)
    final_when_done: Callable[[Path], bool] = lambda work: False


@dataclass
class Outcome:
    stage: str
    moment: str  # a moment's name, or "random"
    at: str  # the n-th time for a moment, the delay in seconds for a random kill
    killed: bool  # False when the command finished before the kill came
    first_exit: int | None
    rerun_exit: int | None
    problem: str | None
    seconds: float = 0.0
    leftovers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def leftovers(*folders: Path) -> list[str]:
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [str(p.relative_to(folder.parent)) for p in folder.rglob("*")
                      if "tmp" in p.name or "partial" in p.name]
    return sorted(found)


# -- the stages ----------------------------------------------------------------------------------

EXTRACT_FRAMES = 54  # lp_d18 every 4th frame


def _check_extract(shared: Shared, work: Path) -> str | None:
    from faceforge.formats.alignments import AlignmentsStore

    with AlignmentsStore.open(work / "a.db", "r") as store:
        frames = sorted(store.done_frame_indices())
        faces = store.face_count()
        status = store.get_meta("status")
    pngs = len(list((work / "faces").glob("*.png")))
    if frames != list(range(0, 4 * EXTRACT_FRAMES, 4)):
        return f"store holds {len(frames)} frames, not the {EXTRACT_FRAMES} expected"
    if status != "complete" or faces != pngs or faces < EXTRACT_FRAMES - 2:
        return f"status {status}, {faces} faces in the store, {pngs} face images"
    return None


TRAIN_ITERATIONS = 7


def _prepare_train(shared: Shared, work: Path) -> None:
    shutil.copytree(shared.small_model, work / "model")


def _check_train(shared: Shared, work: Path) -> str | None:
    from faceforge.training.checkpoint import load_trained_model

    model, state = load_trained_model(work / "model")
    if state.iterations != TRAIN_ITERATIONS:
        return f"model saved at iteration {state.iterations}, not {TRAIN_ITERATIONS}"
    log = work / "model" / "loss_log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    logged = [record["iteration"] for record in records if "loss_a" in record]  # not metrics
    if logged != list(range(2, TRAIN_ITERATIONS + 1)):
        return f"loss log iterations {logged}"
    names = {p.name for p in (work / "model").glob("*.safetensors")}
    if names != set(state.files.values()):
        return f"weight files {sorted(names)} but the state names {sorted(state.files.values())}"
    return None


CONVERT_FRAMES = 48


def _converted(work: Path) -> Path:
    return work / "out" / "lp_d18_converted.mp4"


def _check_convert(shared: Shared, work: Path) -> str | None:
    import av

    with av.open(str(_converted(work))) as container:
        frames = sum(1 for _ in container.decode(video=0))
        has_audio = bool(container.streams.audio)
    if frames != CONVERT_FRAMES or not has_audio:
        return f"{frames} frames, audio {has_audio}"
    return None


def _tools_argv(shared: Shared, work: Path, moment: str) -> list[str]:
    # An export to JSON, or a smoothing into a new store: by moment, or in turn by folder.
    if moment == "export-write" or (moment == "random" and work.name[-1] in "02468"):
        return ["tools", "alignments", "export", str(shared.store), str(work / "out.json")]
    return ["tools", "alignments", "smooth", str(shared.store), "-o", str(work / "smooth.db")]


def _check_tools(shared: Shared, work: Path) -> str | None:
    from faceforge.formats.alignments import AlignmentsStore
    from faceforge.formats.alignments.json_io import read_json_export

    if (work / "out.json").exists():
        _, frames = read_json_export(work / "out.json")
        return None if len(frames) == EXTRACT_FRAMES else f"{len(frames)} frames exported"
    with AlignmentsStore.open(work / "smooth.db", "r") as store:
        if store.frame_count() != EXTRACT_FRAMES or not store.get_meta("smoothed"):
            return "the smoothed store is incomplete"
    return None


STAGES = {
    "extract": Stage(
        "extract",
        lambda s, w, m: ["extract", "-i", str(s.video), "-o", str(w / "faces"), "-p",
                      str(w / "a.db"), "-N", "4", "-L", "WARNING"],
        [("face-png", EXTRACT_FRAMES), ("batch-commit", 4)], (1.0, 4.5), _check_extract),
    "train": Stage(
        "train",
        lambda s, w, m: ["train", "-A", str(s.faces_a), "-B", str(s.faces_b), "-m",
                      str(w / "model"), "-t", "quick", "-bs", "2", "-it",
                      str(TRAIN_ITERATIONS), "-s", "2", "--no-identity", "--no-quality", "-L",
                      "WARNING"],
        [("weights-write", 8), ("state-write", 4), ("backup-copy", 4)], (2.0, 8.0),
        _check_train, prepare=_prepare_train),
    "convert": Stage(
        "convert",
        lambda s, w, m: ["convert", "-i", str(s.video), "-o", str(w / "out"), "-m",
                      str(s.small_model), "-p", str(s.store), "-R", f"0-{CONVERT_FRAMES - 1}",
                      "-L", "WARNING"],
        [("encode", CONVERT_FRAMES), ("audio-mux", 1)], (1.0, 3.5), _check_convert,
        final_when_done=lambda w: _converted(w).exists()),
    "tools": Stage(
        "tools", _tools_argv, [("export-write", EXTRACT_FRAMES), ("store-edit", 1)],
        (0.1, 0.5), _check_tools,
        final_when_done=lambda w: (w / "out.json").exists() or (w / "smooth.db").exists()),
}


def plan(stage: Stage, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """`count` kills for a stage: about half at the moments that matter (each moment in turn,
    at a random n-th time), the rest at random times."""
    kills = []
    for number in range(count):
        if number % 2 == 0:
            moment, times = stage.moments[(number // 2) % len(stage.moments)]
            kills.append((moment, str(rng.randint(1, times))))
        else:
            low, high = stage.random_window_s
            kills.append(("random", f"{rng.uniform(low, high):.2f}"))
    return kills


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["FACEFORGE_OFFLINE"] = "1"
    return env


def _rerun(argv: list[str]) -> int:
    from faceforge.cli import main

    try:
        return main(argv)
    except SystemExit as exc:  # pragma: no cover - argparse
        return exc.code if isinstance(exc.code, int) else 1


def kill_and_rerun(stage: Stage, moment: str, at: str, shared: Shared, work: Path) -> Outcome:
    """One kill -9 of `stage` at `moment` (or at a random time `at` seconds in), the rerun,
    and the checks."""
    started = time.perf_counter()
    work.mkdir(parents=True)
    stage.prepare(shared, work)
    argv = stage.argv(shared, work, moment)
    command = [sys.executable, str(KILLER), "none" if moment == "random" else moment,
               "0" if moment == "random" else at, "--", *argv]
    proc = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    if moment == "random":
        try:
            proc.wait(timeout=float(at))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    first = proc.returncode
    killed = first == -signal.SIGKILL
    outcome = Outcome(stage.name, moment, at, killed, first, None, None)
    if not killed and first != 0:
        outcome.problem = f"the first run failed on its own: {err.decode()[-300:]}"
    elif killed or not stage.final_when_done(work):
        outcome.rerun_exit = _rerun(argv)
        if outcome.rerun_exit != 0:
            outcome.problem = f"the rerun exited {outcome.rerun_exit}"
    if outcome.problem is None:
        outcome.problem = stage.check(shared, work)
    outcome.leftovers = leftovers(work)
    if outcome.problem is None and outcome.leftovers:
        outcome.problem = f"left behind: {', '.join(outcome.leftovers)}"
    outcome.seconds = time.perf_counter() - started
    return outcome
