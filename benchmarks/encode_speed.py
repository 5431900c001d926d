"""Encode-only speed of the `ffmpeg` writer: frames per second from RGB numpy frames in memory
to an H.264 MP4 on disk (RGB to YUV conversion included, no audio), per x264 preset,
resolution and encoder thread count.

Run: python benchmarks/encode_speed.py [--frames N] [--codec h264|h265] [--crf N]
The frames are real footage (tears_of_steel_clip.mp4, 640x360, from ../shared/data/video),
scaled up with bicubic interpolation for 1280x720. Recorded results are at the bottom.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np

from faceforge.io import open_source
from faceforge.io.writers import open_writer

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video"
CLIP = DATA / "tears_of_steel_clip.mp4"
PRESETS = ("ultrafast", "veryfast", "fast", "medium")
SIZES = ((640, 360), (1280, 720))
THREADS = (1, 2, 0)


def load_frames(count: int) -> tuple[list[np.ndarray], object]:
    with open_source(CLIP) as source:
        frames = [frame.image for frame in itertools.islice(source.iter_frames(), count)]
        return frames, source.info


def encode_fps(frames: list[np.ndarray], info, options: dict, out_dir: Path) -> float:
    height, width = frames[0].shape[:2]
    # An image-folder-like source: no audio to mux, so this times the encoder alone.
    info = replace(info, kind="images", has_audio=False, width=width, height=height, fps=24.0)
    start = time.perf_counter()
    with open_writer("ffmpeg", info, out_dir, options) as writer:
        for index, image in enumerate(frames):
            writer.write(index, image)
    elapsed = time.perf_counter() - start
    writer.output_path.unlink()
    return len(frames) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--codec", default="h264")
    parser.add_argument("--crf", type=int, default=None)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    args = parser.parse_args()

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, PyAV "
        f"{av.__version__}, {args.codec}, crf {args.crf or 'default'}, {args.frames} frames"
    )
    small, info = load_frames(args.frames)
    by_size = {
        (640, 360): small,
        (1280, 720): [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_CUBIC) for f in small],
    }
    labels = [f"{w}x{h} t={t or 'auto'}" for w, h in SIZES for t in THREADS]
    header = f"{'preset':<10}" + "".join(f" {label:>17}" for label in labels)
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as out_dir:
        for preset in args.presets:
            cells = []
            for size in SIZES:
                for threads in THREADS:
                    options = {"codec": args.codec, "preset": preset, "threads": threads}
                    if args.crf is not None:
                        options["crf"] = args.crf
                    fps = encode_fps(by_size[size], info, options, Path(out_dir))
                    cells.append(f" {fps:>17.1f}")
            print(f"{preset:<10}" + "".join(cells), flush=True)


if __name__ == "__main__":
    main()
