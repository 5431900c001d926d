"""End-to-end extraction speed (decode, detect, landmarks, masks, PNGs, store) in frames/s.

Runs every detector + landmarker pair on WolfgangLanger_Pexels.mp4 (640x360) and lp_s32.mp4
(1280x720), plus decode-only speed as the ceiling, and prints a markdown table.

    .venv/bin/python benchmarks/extract_speed.py                 # all pairs
    .venv/bin/python benchmarks/extract_speed.py --pairs blazeface:dlib \
        --clips WolfgangLanger_Pexels.mp4
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from faceforge.io import open_source
from faceforge.pipeline.extract import ExtractConfig, extract

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video"
CLIPS = ["WolfgangLanger_Pexels.mp4", "lp_s32.mp4"]
PAIRS = ["blazeface:dlib", "blazeface-full:dlib", "blazeface:mesh", "hog:dlib", "cnn:dlib"]


def decode_only(path: Path) -> float:
    with open_source(path) as source:
        started = time.perf_counter()
        count = sum(1 for _ in source.iter_frames())
        return count / (time.perf_counter() - started)


def one_run(path: Path, detector: str, aligner: str, every_n: int,
            png_compression: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        config = ExtractConfig(input=path, output=Path(tmp) / "faces",
                               alignments=Path(tmp) / "a.db", detector=detector,
                               aligner=aligner, extract_every_n=every_n,
                               png_compression=png_compression)
        result = extract(config)
        return result.frames_per_s, result.faces_written


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=PAIRS)
    parser.add_argument("--clips", nargs="+", default=CLIPS)
    parser.add_argument("--cnn-every-n", type=int, default=4,
                        help="cnn is slow on a CPU: time it on every Nth frame")
    parser.add_argument("--png-compression", type=int, default=1)
    args = parser.parse_args()
    import os

    print(f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs; "
          f"date: {time.strftime('%Y-%m-%d')}\n")
    print("| clip | pipeline | frames/s | faces |")
    print("|---|---|---:|---:|")
    for clip in args.clips:
        path = DATA / clip
        print(f"| {clip} | decode only (ceiling) | {decode_only(path):.1f} | |", flush=True)
        for pair in args.pairs:
            detector, aligner = pair.split(":")
            every_n = args.cnn_every_n if detector == "cnn" else 1
            fps, faces = one_run(path, detector, aligner, every_n, args.png_compression)
            note = f" (every {every_n}th frame)" if every_n > 1 else ""
            print(f"| {clip} | {detector} + {aligner}{note} | {fps:.1f} | {faces} |", flush=True)


if __name__ == "__main__":
    main()
