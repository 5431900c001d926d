"""Training speed of every trainer, with the real training step (default augmentation and loss).

EGs/sec as Faceswap counts it: batch size x 2 sides x iterations / seconds. Also the achieved
GFLOP/s of the step (FLOPs counted by torch's FlopCounterMode on one step, every convolution
counted as direct convolution does it) as a share of this machine's peak, measured by the same
script on a large fp32 and bf16 convolution.

    .venv/bin/python benchmarks/train_speed.py    # every model, batch 16 and 64
    .venv/bin/python benchmarks/train_speed.py --models original --batch-sizes 64 256  # GPU

Faces come from a real extraction of ../shared/data/video/lp_d18.mp4 and lp_d19.mp4 (every 2nd
frame), made once into a temporary folder, unless --faces-a/--faces-b are given.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from faceforge.training.face_sets import load_face_set
from faceforge.pipeline.train import PairModel, TrainConfig, TrainStep, choose_autocast
from torch.utils.flop_counter import FlopCounterMode

from faceforge.allocator import reuse_freed_memory
from faceforge.nn.fast_conv import native_convolutions
from faceforge.pipeline.extract import ExtractConfig, extract
from faceforge.plugins.model import MODELS, build_model

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


def measure(trainer: str, batch_size: int, faces_a: Path, faces_b: Path, device: torch.device,
            precision: str, seconds: float) -> dict[str, float]:
    model = build_model(trainer).to(device)
    autocast = choose_autocast(precision, device)
    if autocast is not None or device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    size = max(model.input_size, model.output_size)
    config = TrainConfig(input_a=faces_a, input_b=faces_b, model_dir=Path("unused"),
                         trainer=trainer, batch_size=batch_size, precision=precision)
    set_a = load_face_set(faces_a, "a", size, config.centering, config.coverage / 100)
    set_b = load_face_set(faces_b, "b", size, config.centering, config.coverage / 100)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-5, eps=1e-7, fused=True)
    step = TrainStep(model, PairModel(model), optimizer, set_a, set_b, config, device, autocast,
                     torch.Generator(device=device).manual_seed(1),
                     torch.Generator().manual_seed(2))
    # The model's FLOPs as direct convolution counts them: Winograd routes do fewer
    # multiplications for the same result, which shows as a share of peak above what the
    # kernels themselves execute.
    with native_convolutions(), FlopCounterMode(display=False) as counter:
        step()
    flop_per_step = counter.get_total_flops()
    step()  # warm-up
    _sync(device)
    iterations, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or iterations < 2:
        step()
        iterations += 1
    _sync(device)
    elapsed = time.perf_counter() - started
    return {"egs_per_s": batch_size * 2 * iterations / elapsed,
            "gflop_per_s": flop_per_step * iterations / elapsed / 1e9,
            "precision": "bf16" if autocast == torch.bfloat16 else
            ("fp16" if autocast == torch.float16 else "fp32")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS.names())
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--seconds", type=float, default=20.0, help="timing per row")
    parser.add_argument("--faces-a", type=Path)
    parser.add_argument("--faces-b", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    reuse_freed_memory()  # as `faceforge train` does
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
          f"date {time.strftime('%Y-%m-%d')}")
    peaks = {"fp32": peak_conv_gflops(torch.float32, device),
             "bf16": peak_conv_gflops(torch.bfloat16, device)}
    print(f"peak 3x3 conv: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s\n")
    with tempfile.TemporaryDirectory() as tmp:
        faces_a, faces_b = args.faces_a, args.faces_b
        if faces_a is None or faces_b is None:
            faces_a, faces_b = make_faces(Path(tmp))
        print("| model | batch | precision | EGs/s | GFLOP/s | share of peak |")
        print("|---|---:|---|---:|---:|---:|")
        for trainer in args.models:
            for batch in args.batch_sizes:
                row = measure(trainer, batch, faces_a, faces_b, device, args.precision,
                              args.seconds)
                peak = peaks["bf16" if row["precision"] in ("bf16", "fp16") else "fp32"]
                print(f"| {trainer} | {batch} | {row['precision']} | {row['egs_per_s']:.1f} | "
                      f"{row['gflop_per_s']:.0f} | {row['gflop_per_s'] / peak:.0%} |",
                      flush=True)


if __name__ == "__main__":
    main()
