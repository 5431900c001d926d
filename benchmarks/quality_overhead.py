"""What the expression and sharpness curves at each save cost a training run. Results:
docs/benchmarks/quality.md.

    .venv/bin/python benchmarks/quality_overhead.py --faces-a A --faces-b B
    .venv/bin/python benchmarks/quality_overhead.py --faces-a A --faces-b B --rounds 3 \
        --iterations 150 --save-interval 50

Two measurements. (1) The callback alone: `SwapQuality.on_save` timed on a `quick` model over
the real faces (median of --repeats), set against the time between two saves at the default
save interval (250 iterations at the measured speed). (2) Whole runs: `train -t quick` with
and without the curves (`--no-quality`), alternating in --rounds turns so a machine that
drifts slows both alike, each from a fresh model folder, EGs/s as Faceswap counts it
(batch x 2 sides x iterations / seconds of the loop, saves included). The identity match is
off in both, so only the new curves differ. Faces: a faces folder each for A and B (e.g.
`faceforge extract -i ../shared/data/video/lp_d18.mp4 -o faces_a -een 2`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from faceforge.machine import cpu_description
from faceforge.training import TrainConfig, train
from faceforge.training.face_sets import load_face_set
from faceforge.training.previews import Swapper
from faceforge.training.swap_quality import SwapQuality


class _Run:
    """The parts of a TrainingRun that SwapQuality reads."""

    def __init__(self, swapper: Swapper) -> None:
        from faceforge.formats.model_state import ModelState

        self.swapper = swapper
        self.iteration = 1
        self.metrics: dict = {}
        self.state = ModelState("quick", {}, {})

    def emit(self, event: object) -> None:
        pass


def callback_ms(faces_a: Path, model_dir: Path, repeats: int) -> tuple[float, float]:
    """(set-up ms, median ms per save) of SwapQuality on the trained model in model_dir."""
    from faceforge.training.checkpoint import load_trained_model

    model, state = load_trained_model(model_dir)
    config = state.train_config
    face_set = load_face_set(faces_a, "a", max(model.input_size, model.output_size),
                             config["centering"], config["coverage"] / 100)
    started = time.perf_counter()
    callback = SwapQuality(face_set.images, face_set.landmarks)
    setup = (time.perf_counter() - started) * 1000
    run = _Run(Swapper(model, torch.device("cpu"), model.input_size, None))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        callback.on_save(run)  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
        run.iteration += 1
    print("curves at the last save:", run.metrics[run.iteration - 1])
    return setup, statistics.median(times)


def one_run(faces_a: Path, faces_b: Path, folder: Path, iterations: int, save_interval: int,
            batch_size: int, quality: bool) -> float:
    config = TrainConfig(input_a=faces_a, input_b=faces_b, model_dir=folder, trainer="quick",
                         batch_size=batch_size, iterations=iterations,
                         save_interval=save_interval, no_identity=True,
                         no_quality=not quality, seed=1)
    return train(config).egs_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces-a", type=Path, required=True)
    parser.add_argument("--faces-b", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--save-interval", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; torch threads {torch.get_num_threads()}")
    speeds: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="quality-overhead-") as work:
        root = Path(work)
        for turn in range(args.rounds):
            for quality in (False, True) if turn % 2 == 0 else (True, False):
                folder = root / f"run{turn}_{int(quality)}"
                egs = one_run(args.faces_a, args.faces_b, folder, args.iterations,
                              args.save_interval, args.batch_size, quality)
                speeds[quality].append(egs)
                print(f"round {turn + 1}: curves {'on ' if quality else 'off'} {egs:.1f} EGs/s")
        setup, per_save = callback_ms(args.faces_a, root / "run0_1", args.repeats)
    off, on = statistics.median(speeds[False]), statistics.median(speeds[True])
    seconds_between_saves = 250 * 2 * args.batch_size / off
    print(f"whole runs ({args.iterations} iterations, a save every {args.save_interval}, "
          f"batch {args.batch_size}): median {off:.1f} EGs/s without the curves, {on:.1f} "
          f"with ({100 * (off - on) / off:+.1f}% slower with)")
    print(f"the callback: {setup:.0f} ms once at the start, {per_save:.0f} ms per save; at the "
          f"default save interval (250 iterations = {seconds_between_saves:.0f} s here) that "
          f"is {100 * per_save / 1000 / seconds_between_saves:.2f}% of training time")


if __name__ == "__main__":
    main()
