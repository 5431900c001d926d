"""Measure how each detector's boxes relate to dlib HOG boxes, for the dlib 68-point landmarker.

dlib's shape predictor was trained on HOG detector boxes, so a box from another detector is
first mapped to the HOG box it would have had. For every sampled frame of the single-person
clips where HOG finds exactly one face, this takes the other detector's detection that
overlaps it most (IoU >= 0.3) and records the HOG box relative to it: centre offset in units
of its width/height, and the width and height ratios. The medians are each detector's
`dlib_box_calibration` (faceforge/plugins/detect/): one ratio for square boxes, both for
detectors whose boxes are taller than wide (mtcnn, cv2-dnn, retinaface).
For BlazeFace it also measures the HOG box against the keypoints (eye mid-point and mouth
centre), pooled over both ranges: `KEYPOINT_BOX_CALIBRATION` in faceforge/plugins/align/dlib68.py.
Run: .venv/bin/python benchmarks/calibrate_dlib_box.py [VIDEO_DIR [DETECTOR ...]]
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np

from faceforge.plugins.detect import DETECTORS
from faceforge.plugins.weights import WeightsMissing

VIDEO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
CLIPS = ["WolfgangLanger_Pexels.mp4", "lp_d18.mp4", "lp_d19.mp4", "lp_d9.mp4", "lp_d6.mp4",
         "lp_d3.mp4", "lp_d10.mp4", "single_face.mp4"]


def sample_frames(path: Path, every: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [
            frame.to_ndarray(format="rgb24")
            for i, frame in enumerate(container.decode(video=0))
            if i % every == 0
        ]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def keypoint_offsets(
    keypoints: np.ndarray, hog_box: tuple[float, float, float, float]
) -> tuple[float, float, float]:
    """HOG box centre offset and side relative to BlazeFace's eyes and mouth, in face axes."""
    eyes, mouth = (keypoints[0] + keypoints[1]) / 2, keypoints[3]
    down = mouth - eyes
    unit = float(np.linalg.norm(down))
    across = np.array([down[1], -down[0]])
    left, top, right, bottom = hog_box
    offset = np.array([(left + right) / 2, (top + bottom) / 2]) - (eyes + mouth) / 2
    return (float(offset @ across) / unit**2, float(offset @ down) / unit**2, (right - left) / unit)


def main() -> None:
    video_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else VIDEO_DIR
    frames = [f for clip in CLIPS for f in sample_frames(video_dir / clip, 10)]
    hog = DETECTORS.get("hog")()
    hog_boxes = [d[0].box if len(d) == 1 else None for d in hog.detect(frames)]
    print(f"{len(frames)} frames, HOG found one face in {sum(b is not None for b in hog_boxes)}")
    keypoint_rows: list[tuple[float, float, float]] = []
    print("| detector | pairs | dx/w | dy/h | hog_w/w | hog_h/h |")
    print("|---|---|---|---|---|---|")
    only = set(sys.argv[2:])
    for name, options, stride in [
        ("cnn", {}, 4),
        ("blazeface", {"range": "short"}, 1),
        ("blazeface", {"range": "full"}, 1),
        ("mtcnn", {}, 1),
        ("cv2-dnn", {}, 1),
        ("retinaface", {}, 1),
        ("s3fd", {}, 4),
    ]:
        if only and name not in only:
            continue
        try:
            detector = DETECTORS.get(name)(**options)
        except WeightsMissing:
            print(f"| {name} | not measured: weights not available offline | | | | |")
            continue
        picked = [(f, b) for f, b in zip(frames, hog_boxes, strict=True) if b is not None]
        picked = picked[::stride]
        rows = []
        found_per_frame = detector.detect([f for f, _ in picked])
        for (_, hog_box), found in zip(picked, found_per_frame, strict=True):
            # The detection on HOG's face (cv2-dnn also "finds" a shirt in lp_d18).
            best = max(found, key=lambda d: iou(d.box, hog_box), default=None)
            if best is None or iou(best.box, hog_box) < 0.3:
                continue
            found = [best]
            left, top, right, bottom = found[0].box
            h_left, h_top, h_right, h_bottom = hog_box
            w, h = right - left, bottom - top
            rows.append(((h_left + h_right - left - right) / 2 / w,
                         (h_top + h_bottom - top - bottom) / 2 / h,
                         (h_right - h_left) / w, (h_bottom - h_top) / h))
            if name == "blazeface" and found[0].keypoints is not None:
                keypoint_rows.append(keypoint_offsets(found[0].keypoints, hog_box))
        med = np.median(np.array(rows), axis=0)
        label = f"{name} {options.get('range', '')}".strip()
        print(f"| {label} | {len(rows)} | " + " | ".join(f"{v:+.4f}" for v in med) + " |")
    if not keypoint_rows:
        return
    med = np.median(np.array(keypoint_rows), axis=0)
    print("\nBlazeFace keypoints (both ranges), in eyes-to-mouth units: "
          f"across {med[0]:+.4f}, down {med[1]:+.4f}, side {med[2]:.4f} ({len(keypoint_rows)})")


if __name__ == "__main__":
    main()
