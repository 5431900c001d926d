"""Encode-only speed of the `ffmpeg` writer: frames per second from RGB numpy frames in memory
to an H.264 MP4 on disk (RGB to YUV conversion included, no audio), per x264 preset,
resolution and encoder thread count.

Run: python benchmarks/encode_speed.py [--frames N] [--codec h264|h265] [--crf N] [--repeats N]
The frames are real footage (tears_of_steel_clip.mp4, 640x360, from ../shared/data/video),
scaled up with bicubic interpolation for 1280x720.

Recorded (2-core x86_64 VM shared with another busy job, PyAV 18.1.0 / FFmpeg 8.1, libx264,
CRF 18, yuv420p, 120 frames, best of 2). Cells: frames/s by the wall clock (CPU ms per frame
over all threads); t = encoder threads, auto = x264 chooses. The CPU column is the steadier
one on a shared machine: wall-clock rates moved by up to 30 % between runs.

    preset       640x360 t=1     640x360 t=auto   1280x720 t=1    1280x720 t=auto  kB/frame
    ultrafast    327.7 ( 3.0)    267.2 ( 3.5)     77.9 ( 9.8)     77.6 ( 9.2)      20.8 / 50.8
    veryfast     129.0 ( 7.6)    148.9 ( 6.7)     25.6 (26.9)     35.1 (28.1)       5.5 / 17.9
    fast          81.2 (12.2)     83.3 (11.9)     17.9 (55.3)     18.4 (53.8)       4.9 / 20.0
    medium        77.9 (12.8)     76.0 (13.1)     17.6 (56.2)     16.5 (59.8)       4.7 / 19.0

(kB/frame: output size at 640x360 / 1280x720.) A 15 frames/s conversion on 2 cores has
133 CPU-ms per frame in all; veryfast takes about 5 % of it at 640x360 and 20 % at 1280x720,
medium 10 % and 42 %, for files only about 15 % smaller at 640x360 (and none at 720p here).
Hence the writer's defaults: preset veryfast, threads auto.
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

from faceforge.io import SourceInfo, open_source
from faceforge.plugins.writer import open_writer

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video"
CLIP = DATA / "tears_of_steel_clip.mp4"
PRESETS = ("ultrafast", "veryfast", "fast", "medium")
SIZES = ((640, 360), (1280, 720))
THREADS = (1, 0)  # one encoder thread, or as many as x264 picks (0)


def load_frames(count: int) -> tuple[list[np.ndarray], SourceInfo]:
    with open_source(CLIP) as source:
        frames = [frame.image for frame in itertools.islice(source.iter_frames(), count)]
        return frames, source.info


def encode_speed(
    frames: list[np.ndarray], info: SourceInfo, options: dict, out_dir: Path
) -> tuple[float, float, float]:
    """(frames/s by the wall clock, CPU ms per frame over all threads, output kB per frame).

    CPU time is what counts against a 2-core budget and, unlike the wall clock, barely moves
    when another job shares the machine.
    """
    height, width = frames[0].shape[:2]
    # An image-folder-like source: no audio to mux, so this times the encoder alone.
    info = replace(info, kind="images", has_audio=False, width=width, height=height, fps=24.0)
    wall, cpu = time.perf_counter(), time.process_time()
    with open_writer("ffmpeg", info, out_dir, options) as writer:
        for index, image in enumerate(frames):
            writer.write(index, image)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    size_kb = writer.output_path.stat().st_size / 1000
    writer.output_path.unlink()
    return len(frames) / wall, cpu * 1000 / len(frames), size_kb / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--codec", default="h264")
    parser.add_argument("--crf", type=int, default=None)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--repeats", type=int, default=2, help="passes per cell; best is kept")
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
    header = f"{'preset':<10}" + "".join(f" {label:>18}" for label in labels) + "  kB/frame"
    print("cells: frames/s (CPU ms per frame, all threads)")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as out_dir:
        for preset in args.presets:
            cells, sizes = [], []
            for size in SIZES:
                for threads in THREADS:
                    options = {"codec": args.codec, "preset": preset, "threads": threads}
                    if args.crf is not None:
                        options["crf"] = args.crf
                    runs = [
                        encode_speed(by_size[size], info, options, Path(out_dir))
                        for _ in range(args.repeats)
                    ]
                    fps = max(run[0] for run in runs)
                    cpu_ms = min(run[1] for run in runs)
                    cells.append(f" {fps:>9.1f} ({cpu_ms:>5.1f})")
                    sizes.append(runs[0][2])
            size_text = " / ".join(f"{kb:.1f}" for kb in sizes[:: len(THREADS)])
            print(f"{preset:<10}" + "".join(cells) + f"  {size_text}", flush=True)

if __name__ == "__main__":
    main()
