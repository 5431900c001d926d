"""End-to-end conversion speed (decode → predict → blend → H.264 encode with audio), frames/s,
with per-stage times, using the `original` model (weights do not change the speed, so a model
saved after one training iteration stands in for a trained one unless --model is given).

    .venv/bin/python benchmarks/convert_speed.py
    .venv/bin/python benchmarks/convert_speed.py --clips WolfgangLanger_Pexels.mp4 --model MODEL
    .venv/bin/python benchmarks/convert_speed.py --precision bf16 --cpu-kernels faceforge

--precision/--cpu-kernels are convert's own options (default auto: measured at the start of
the conversion, as `faceforge convert` does; the choice is printed).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from faceforge.allocator import reuse_freed_memory
from faceforge.events import Note
from faceforge.machine import cpu_model
from faceforge.pipeline.convert import ConvertConfig, convert
from faceforge.pipeline.extract import ExtractConfig, extract
from faceforge.training import TrainConfig, train

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video"
CLIPS = ["WolfgangLanger_Pexels.mp4", "lp_s32.mp4"]


def make_model(root: Path, trainer: str) -> Path:
    faces = {}
    for side, clip in (("a", "lp_d18.mp4"), ("b", "lp_d19.mp4")):
        faces[side] = root / side
        extract(ExtractConfig(input=DATA / clip, output=faces[side],
                              alignments=root / f"{side}.db", extract_every_n=4))
    model = root / trainer
    train(TrainConfig(input_a=faces["a"], input_b=faces["b"], model_dir=model, trainer=trainer,
                      batch_size=4, iterations=1, save_interval=1, no_identity=True))
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", default=CLIPS)
    parser.add_argument("--model", type=Path, help="a trained model folder")
    parser.add_argument("--trainer", default="original")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--cpu-kernels", default="auto")
    args = parser.parse_args()
    reuse_freed_memory()  # as `faceforge convert` does
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else cpu_model()
    print(f"device: {name}; torch threads {torch.get_num_threads()}; "
          f"date {time.strftime('%Y-%m-%d %H:%M')}\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = args.model or make_model(root, args.trainer)
        print("| clip | frames | frames/s | predict s | blend s | write s | faces |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for clip in args.clips:
            store = root / f"{clip}.db"
            extract(ExtractConfig(input=DATA / clip, output=root / f"faces_{clip}",
                                  alignments=store))
            result = convert(ConvertConfig(input=DATA / clip, output=root / f"out_{clip}",
                                           model_dir=model, alignments=store,
                                           precision=args.precision,
                                           cpu_kernels=args.cpu_kernels),
                             on_event=lambda e: print(e.text) if isinstance(e, Note) else None)
            stage = result.stage_s
            print(f"| {clip} | {result.frames_written} | {result.frames_per_s:.1f} | "
                  f"{stage['predict']:.1f} | {stage['blend']:.1f} | {stage['write']:.1f} | "
                  f"{result.faces_swapped} |", flush=True)


if __name__ == "__main__":
    main()
