"""Training speed of every trainer with the real training step (default augmentation and loss),
under each compute setting, alternating, and what `--precision auto --cpu-kernels auto` picks.

EGs/sec as Faceswap counts it: batch size x 2 sides x iterations / seconds. Each setting
(fp32 or bf16, faceforge's CPU kernels or PyTorch's) is timed in `--rounds` turns that
alternate with the others in one process, so a machine that drifts slows all of them alike;
the table gives each setting's median. The automatic choice is then made as `faceforge train`
makes it (a short measurement, with an empty cache) and compared with the fastest fixed
setting. Also the achieved GFLOP/s of the step (FLOPs of direct convolution, counted by
torch's FlopCounterMode) as a share of this machine's peak on a large convolution.

    .venv/bin/python benchmarks/train_speed.py                       # every model, batch 16, 64
    .venv/bin/python benchmarks/train_speed.py --models original --batch-sizes 16 --rounds 6
    .venv/bin/python benchmarks/train_speed.py --models original --batch-sizes 64 256  # GPU

Faces come from a real extraction of ../shared/data/video/lp_d18.mp4 and lp_d19.mp4 (every 2nd
frame), made once into a temporary folder, unless --faces-a/--faces-b are given.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from faceforge.allocator import reuse_freed_memory
from faceforge.machine import cpu_description
from faceforge.nn.fast_conv import torch_convolutions
from faceforge.pipeline.extract import ExtractConfig, extract
from faceforge.plugins.model import MODELS, build_model
from faceforge.training import TrainConfig
from faceforge.training.face_sets import load_face_set
from faceforge.training.precision import (
    Compute,
    apply_compute,
    candidates,
    choose_compute,
)
from faceforge.training.sampler import Sampler
from faceforge.training.step import PairModel, TrainStep

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video"


def peak_conv_gflops(dtype: torch.dtype, device: torch.device) -> float:
    """GFLOP/s of a large 3x3 convolution (forward), channels-last, the machine's ceiling."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(device, dtype)
    conv = conv.to(memory_format=torch.channels_last)
    images = torch.randn(32, 256, 32, 32, device=device, dtype=dtype)
    images = images.contiguous(memory_format=torch.channels_last)
    flop = 2 * 256 * 256 * 9 * 32 * 32 * 32
    with torch.no_grad():
        conv(images)
        best = float("inf")
        for _ in range(5):
            _sync(device)
            started = time.perf_counter()
            conv(images)
            _sync(device)
            best = min(best, time.perf_counter() - started)
    return flop / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_faces(root: Path) -> tuple[Path, Path]:
    out = []
    for clip in ("lp_d18.mp4", "lp_d19.mp4"):
        faces = root / Path(clip).stem
        extract(ExtractConfig(input=DATA / clip, output=faces, alignments=root / f"{clip}.db",
                              extract_every_n=2))
        out.append(faces)
    return out[0], out[1]


def make_step(trainer: str, batch_size: int, faces_a: Path, faces_b: Path,
              device: torch.device) -> TrainStep:
    """The step `faceforge train` runs, on a new model."""
    model = build_model(trainer).to(device)
    config = TrainConfig(input_a=faces_a, input_b=faces_b, model_dir=Path("unused"),
                         trainer=trainer, batch_size=batch_size)
    size = max(model.input_size, model.output_size)
    sets = tuple(load_face_set(folder, side, size, config.centering, config.coverage / 100)
                 for side, folder in (("a", faces_a), ("b", faces_b)))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-5, eps=1e-7, fused=True)
    samplers = tuple(Sampler(len(s), torch.Generator().manual_seed(2)) for s in sets)
    return TrainStep(model, PairModel(model), optimizer, sets, samplers,
                     config.augment_config(), config.loss_config(), batch_size=batch_size,
                     device=device, compute=Compute("fp32", True),
                     generator=torch.Generator(device=device).manual_seed(1))


def use(step: TrainStep, compute: Compute) -> None:
    step.compute = compute
    apply_compute(step.model, compute, step.device)
    step.scaler = torch.amp.GradScaler(step.device.type,
                                       enabled=compute.autocast == torch.float16)


def egs_per_s(step: TrainStep, seconds: float) -> float:
    step()  # warm-up after a switch of layout or kernels
    _sync(step.device)
    iterations, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or iterations < 2:
        step()
        iterations += 1
    _sync(step.device)
    return step.batch_size * 2 * iterations / (time.perf_counter() - started)


def flop_per_step(step: TrainStep) -> float:
    """The step's FLOPs as direct convolution counts them (Winograd does fewer multiplications
    for the same result, which shows as a share of peak above what its kernels execute)."""
    with torch_convolutions(step.model), FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS.names())
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="timing per setting and row, split over the rounds")
    parser.add_argument("--rounds", type=int, default=4, help="alternations per row")
    parser.add_argument("--faces-a", type=Path)
    parser.add_argument("--faces-b", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    reuse_freed_memory()  # as `faceforge train` does
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_description()
    print(f"device: {name}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
          f"date {time.strftime('%Y-%m-%d %H:%M')}")
    peaks = {"fp32": peak_conv_gflops(torch.float32, device),
             "bf16": peak_conv_gflops(torch.bfloat16, device)}
    print(f"peak 3x3 conv: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s\n")
    settings = candidates("auto", "auto", device)
    print("| model | batch | setting | EGs/s (median) | rounds | GFLOP/s | share of peak |")
    print("|---|---:|---|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        faces_a, faces_b = args.faces_a, args.faces_b
        if faces_a is None or faces_b is None:
            faces_a, faces_b = make_faces(Path(tmp))
        os.environ["FACEFORGE_CACHE_DIR"] = str(Path(tmp) / "cache")  # auto measures afresh
        summary = []
        for trainer in args.models:
            for batch in args.batch_sizes:
                summary.append(run_row(trainer, batch, faces_a, faces_b, device, settings,
                                       args, peaks))
        print("\n| model | batch | auto chose | its EGs/s | fastest fixed | its EGs/s | "
              "auto vs fastest | time to choose |")
        print("|---|---:|---|---:|---|---:|---:|---:|")
        for row in summary:
            print(row)


def run_row(trainer: str, batch: int, faces_a: Path, faces_b: Path, device: torch.device,
            settings: list[Compute], args: argparse.Namespace, peaks: dict[str, float]) -> str:
    step = make_step(trainer, batch, faces_a, faces_b, device)
    flop = flop_per_step(step)
    runs: dict[str, list[float]] = {s.key(): [] for s in settings}
    for _ in range(args.rounds):
        for setting in settings:
            use(step, setting)
            runs[setting.key()].append(egs_per_s(step, args.seconds / args.rounds))
    medians = {key: statistics.median(values) for key, values in runs.items()}
    for setting in settings:
        key = setting.key()
        gflops = flop * medians[key] / (2 * batch) / 1e9
        peak = peaks["bf16" if setting.autocast is not None else "fp32"]
        print(f"| {trainer} | {batch} | {key} | {medians[key]:.1f} | "
              f"{' '.join(f'{v:.1f}' for v in runs[key])} | {gflops:.0f} | "
              f"{gflops / peak:.0%} |", flush=True)
    started = time.perf_counter()
    chosen, _ = choose_compute("auto", "auto", device,
                               {"job": "benchmark", "trainer": trainer, "batch": batch},
                               step.measure)
    choosing_s = time.perf_counter() - started
    best = max(medians, key=medians.__getitem__)
    ratio = medians[chosen.key()] / medians[best]
    return (f"| {trainer} | {batch} | {chosen.key()} | {medians[chosen.key()]:.1f} | {best} | "
            f"{medians[best]:.1f} | {ratio:.1%} | {choosing_s:.0f} s |")


if __name__ == "__main__":
    main()
