"""Detection rates and speed of every detector on the single-person clips, plus false alarms.

For each detector: per clip, the share of frames with at least one face and with exactly one;
the number of detections on no_face.mp4 (a cartoon: every detection is false); detector time
per frame (ms, median and mean, frames already decoded; the median resists load from other
processes); and the time of each landmarker per
face when seeded by that detector (on WolfgangLanger_Pexels.mp4). Frames are decoded with PyAV.
The CNN and S3FD detectors take seconds per frame on a 2-core CPU, so they see every Nth frame
only; S3FD and FAN are reported as not measured where their weights are not on the machine
(FACEFORGE_WEIGHTS_DIR or the user cache). Prints markdown tables.
Run: .venv/bin/python benchmarks/detection_rates.py [--cnn-every 16] [--only mtcnn ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import numpy as np

from faceforge.plugins.align import LANDMARKERS
from faceforge.plugins.detect import DETECTORS
from faceforge.plugins.weights import WeightsMissing

VIDEO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
#: clip -> number of leading frames to use (None: all). face_noface.mov cuts to a cartoon
#: title at frame 72 (found by the jump in mean frame difference).
SINGLE_PERSON_CLIPS: dict[str, int | None] = {
    "WolfgangLanger_Pexels.mp4": None, "lp_d18.mp4": None, "lp_d19.mp4": None,
    "lp_d9.mp4": None, "lp_d6.mp4": None, "lp_d3.mp4": None, "lp_d10.mp4": None,
    "lp_s32.mp4": None, "single_face.mp4": None, "face_noface.mov": 72,
}
NO_FACE_CLIP = "no_face.mp4"
#: (label, registered name, options, box calibration name for the landmarkers)
SETUPS = [
    ("hog", "hog", {}, "hog"),
    ("cnn", "cnn", {}, "cnn"),
    ("blazeface short", "blazeface", {"range": "short"}, "blazeface"),
    ("blazeface full", "blazeface", {"range": "full"}, "blazeface-full"),
    ("mtcnn", "mtcnn", {}, "mtcnn"),
    ("cv2-dnn", "cv2-dnn", {}, "cv2-dnn"),
    ("retinaface", "retinaface", {}, "retinaface"),
    ("s3fd", "s3fd", {}, "s3fd"),
]
#: detectors as slow as dlib's CNN on a CPU see every --cnn-every th frame only
SLOW = ("cnn", "s3fd")
NOT_MEASURED = "not measured: weights not available offline"


def decode(path: Path, limit: int | None) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if limit is not None and len(frames) >= limit:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video-dir", type=Path, default=VIDEO_DIR)
    parser.add_argument("--cnn-every", type=int, default=16,
                        help="CNN and S3FD see every Nth frame")
    parser.add_argument("--only", nargs="+", metavar="LABEL",
                        help="measure only these setups (labels as in the tables)")
    args = parser.parse_args()

    clips = {
        name: decode(args.video_dir / name, limit) for name, limit in SINGLE_PERSON_CLIPS.items()
    }
    no_face = decode(args.video_dir / NO_FACE_CLIP, None)
    short = {name: name.split(".")[0] for name in clips}

    rate_rows, summary_rows, landmark_rows = [], [], []
    only = set(args.only or [label for label, *_ in SETUPS])
    for label, name, options, box_source in SETUPS:
        if label not in only:
            continue
        try:
            detector = DETECTORS.get(name)(**options)
        except WeightsMissing:
            rate_rows.append(f"| {label} | {NOT_MEASURED} |" + " |" * (len(short) - 1))
            summary_rows.append(f"| {label} | {NOT_MEASURED} | | | | | |")
            continue
        every = args.cnn_every if name in SLOW else 1
        detector.detect([clips["single_face.mp4"][0]])  # warm-up: first call allocates
        cells, seconds, frame_count, any_total, one_total = [], [], 0, 0, 0
        wolfgang_found = []
        for clip, frames in clips.items():
            frames = frames[::every]
            counts = []
            for frame in frames:
                start = time.perf_counter()
                found = detector.detect([frame])[0]
                seconds.append(time.perf_counter() - start)
                counts.append(len(found))
                if clip == "WolfgangLanger_Pexels.mp4":
                    wolfgang_found.append((frame, found))
            counts_arr = np.array(counts)
            frame_count += len(counts)
            any_total += int((counts_arr >= 1).sum())
            one_total += int((counts_arr == 1).sum())
            any_share, one_share = np.mean(counts_arr >= 1), np.mean(counts_arr == 1)
            cells.append(f"{100 * any_share:.1f} / {100 * one_share:.1f}")
            print(f"{label} {clip}: {len(counts)} frames", file=sys.stderr)
        false_detections = sum(len(found) for found in detector.detect(no_face[::every]))
        rate_rows.append(f"| {label} | " + " | ".join(cells) + " |")
        summary_rows.append(
            f"| {label} | {frame_count} | {100 * any_total / frame_count:.1f}% | "
            f"{100 * one_total / frame_count:.1f}% | "
            f"{false_detections} in {len(no_face[::every])} | "
            f"{1000 * np.median(seconds):.1f} | {1000 * np.mean(seconds):.1f} |"
        )
        for lm_name in LANDMARKERS.names():
            try:
                landmarker = LANDMARKERS.get(lm_name)(box_source=box_source)
            except WeightsMissing:
                landmark_rows.append(f"| {lm_name} | {label} | {NOT_MEASURED} | |")
                continue
            per_face = []
            for frame, found in wolfgang_found:
                if len(found) == 1:
                    start = time.perf_counter()
                    landmarker.landmarks(frame, found)
                    per_face.append(time.perf_counter() - start)
            if per_face:
                landmark_rows.append(
                    f"| {lm_name} | {label} | {1000 * np.median(per_face):.2f} "
                    f"| {1000 * np.mean(per_face):.2f} |"
                )

    print("\n### Frames with a face, per clip: % with >= 1 face / % with exactly 1\n")
    print("| detector | " + " | ".join(short.values()) + " |")
    print("|---|" + "---|" * len(short))
    print("\n".join(rate_rows))
    print("\n### Summary (single-person clips together)\n")
    print("| detector | frames | >= 1 face | exactly 1 | detections on no_face.mp4 "
          "| ms/frame median | ms/frame mean |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(summary_rows))
    print("\n### Landmarker time per face on WolfgangLanger_Pexels.mp4 (640x360)\n")
    print("| landmarker | seeded by | ms/face median | ms/face mean |")
    print("|---|---|---|---|")
    print("\n".join(landmark_rows))
    print(f"\nCNN and S3FD saw every {args.cnn_every}th frame.")


if __name__ == "__main__":
    main()
