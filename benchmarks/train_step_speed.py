"""Bare training-step speed of the trainers on this machine's CPU, in EGs/sec.

EGs/sec is counted as Faceswap counts it: batch size x 2 sides x iterations / seconds. One step
is: forward a batch of A faces through decoder A and a batch of B faces through decoder B,
MSE loss against the inputs, backward, Adam step. No data loading or augmentation.
Also times a large convolution and matmul to estimate the CPU's peak GFLOP/s.

    .venv/bin/python benchmarks/train_step_speed.py --models original quick

Recorded 2026-11-27, 2-core AMD EPYC VM (AVX-512 + bf16), torch 2.13.0 CPU, 2 threads, eager,
quiet machine (other jobs on the shared VM slow every figure by up to 10x; rerun when idle):
    peak: conv3x3 fp32 128 GFLOP/s, bf16 301 GFLOP/s; matmul fp32 83, bf16 186 GFLOP/s
    original (11.4 GFLOP per EG):  batch 64 bf16 22-24 EGs/s (channels_last or not),
        batch 16 bf16 channels_last 17.8, batch 64 fp32 channels_last 11.6,
        batch 16 fp32 contiguous 3.6; torch.compile did not help (21 at batch 64 bf16)
    quick (2.9 GFLOP per EG): batch 64 bf16 channels_last 113 EGs/s, batch 16 bf16
        channels_last 80, batch 64 fp32 48-52, batch 16 fp32 10-12
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import time
from collections.abc import Callable

import torch

from faceforge.plugins.model import MODELS, build_model


def _timed(fn: Callable[[], object], min_seconds: float, min_runs: int) -> tuple[float, float]:
    """Mean and best seconds per call of ``fn`` after one warm-up call.

    The best call is the steadier figure on a shared machine, where other jobs steal cores.
    """
    fn()
    durations: list[float] = []
    start = time.perf_counter()
    while len(durations) < min_runs or time.perf_counter() - start < min_seconds:
        begin = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - begin)
    return sum(durations) / len(durations), min(durations)


def peak_gflops(dtype: torch.dtype) -> dict[str, float]:
    """GFLOP/s of a large 3x3 convolution and a large matmul in ``dtype``."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(dtype)
    conv = conv.to(memory_format=torch.channels_last)
    images = torch.randn(32, 256, 32, 32, dtype=dtype).contiguous(memory_format=torch.channels_last)
    conv_flop = 2 * 256 * 256 * 9 * 32 * 32 * 32
    a = torch.randn(4096, 4096, dtype=dtype)
    b = torch.randn(4096, 4096, dtype=dtype)
    with torch.no_grad():
        _, conv_s = _timed(lambda: conv(images), 1.0, 3)
        _, matmul_s = _timed(lambda: a @ b, 1.0, 3)
    return {"conv": conv_flop / conv_s / 1e9, "matmul": 2 * 4096**3 / matmul_s / 1e9}


def train_step_speed(
    name: str,
    batch_size: int,
    bf16: bool,
    channels_last: bool,
    iterations: int,
    min_seconds: float,
    compile_model: bool = False,
) -> tuple[float, float]:
    """Mean and best EGs/sec of the bare training step for one setting."""
    torch.manual_seed(0)
    model = build_model(name).train()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    # Fused Adam updates all parameters in one pass over memory: with 20-130 M parameters the
    # optimizer step is a noticeable share of a CPU step.
    optimizer = torch.optim.Adam(model.parameters(), lr=model.config.learning_rate, fused=True)
    size = model.input_size
    faces_a = torch.rand(batch_size, 3, size, size).contiguous(memory_format=memory_format)
    faces_b = torch.rand(batch_size, 3, size, size).contiguous(memory_format=memory_format)
    out = model.output_size
    target_a = torch.nn.functional.interpolate(faces_a, size=out) if out != size else faces_a
    target_b = torch.nn.functional.interpolate(faces_b, size=out) if out != size else faces_b

    def loss_fn() -> torch.Tensor:
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with autocast:
            loss = torch.nn.functional.mse_loss(model(faces_a, "a"), target_a)
            return loss + torch.nn.functional.mse_loss(model(faces_b, "b"), target_b)

    compute_loss = torch.compile(loss_fn) if compile_model else loss_fn

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        compute_loss().backward()
        optimizer.step()

    if compile_model:
        step()  # compiling takes a minute or more; keep it out of the timed warm-up
    mean_s, best_s = _timed(step, min_seconds, iterations)
    return batch_size * 2 / mean_s, batch_size * 2 / best_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", default=["original", "quick"], choices=MODELS.names()
    )
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=3, help="timed steps, at least")
    parser.add_argument("--min-seconds", type=float, default=5.0, help="timed seconds, at least")
    parser.add_argument("--skip-peak", action="store_true")
    parser.add_argument(
        "--compile",
        choices=["off", "on", "both"],
        default="off",
        help="time torch.compile'd steps too (about a minute of compiling per row)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    if not args.skip_peak:
        for dtype in (torch.float32, torch.bfloat16):
            peak = peak_gflops(dtype)
            print(
                f"peak {str(dtype):15s} conv3x3 {peak['conv']:7.1f} GFLOP/s   "
                f"matmul {peak['matmul']:7.1f} GFLOP/s"
            )

    compile_modes = {"off": (False,), "on": (True,), "both": (False, True)}[args.compile]
    print(
        f"{'model':12s} {'batch':>5s} {'precision':>9s} {'memory':>13s} {'mode':>8s} "
        f"{'EGs/sec':>8s} {'best':>8s}"
    )
    for name, batch_size, compiled, bf16, channels_last in itertools.product(
        args.models, args.batch_sizes, compile_modes, (False, True), (False, True)
    ):
        mean_speed, best_speed = train_step_speed(
            name, batch_size, bf16, channels_last, args.iterations, args.min_seconds, compiled
        )
        print(
            f"{name:12s} {batch_size:5d} {'bf16' if bf16 else 'fp32':>9s} "
            f"{'channels_last' if channels_last else 'contiguous':>13s} "
            f"{'compiled' if compiled else 'eager':>8s} {mean_speed:8.2f} {best_speed:8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
