"""Derive faceforge's mean face (landmarks 17-67 in unit face space) from real footage.

Runs dlib's HOG detector and 68-point predictor on frames of the frontal talking-head clips in
../shared/data/video, aligns all landmark sets by generalised Procrustes analysis (Umeyama),
makes the result left/right symmetric, and scales it so the points fill the unit square.
Writes src/faceforge/core/data/mean_face.json. Run: .venv/bin/python scripts/derive_mean_face.py
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import av
import dlib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from faceforge.core.geometry import umeyama  # noqa: E402
from faceforge.core.landmarks import MIRROR  # noqa: E402

VIDEOS = ["lp_d18.mp4", "lp_d19.mp4", "lp_d3.mp4", "lp_d10.mp4", "lp_d9.mp4", "lp_d6.mp4",
          "WolfgangLanger_Pexels.mp4", "single_face.mp4"]
EVERY_N = 6


def model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def collect(data_dir: Path) -> np.ndarray:
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(model_dir() / "shape_predictor_68_face_landmarks.dat"))
    shapes = []
    for name in VIDEOS:
        with av.open(str(data_dir / "video" / name)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % EVERY_N:
                    continue
                rgb = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                boxes = detector(rgb, 0)
                if len(boxes) != 1:
                    continue
                shape = predictor(rgb, boxes[0])
                shapes.append([(p.x, p.y) for p in shape.parts()])
    return np.asarray(shapes, dtype=np.float64)


def procrustes_mean(shapes: np.ndarray, iterations: int = 10) -> np.ndarray:
    mean = shapes[0].copy()
    for _ in range(iterations):
        aligned = [
            (umeyama(s, mean) @ np.c_[s, np.ones(len(s))].T).T[:, :2] for s in shapes
        ]
        new_mean = np.mean(aligned, axis=0)
        new_mean -= new_mean.mean(axis=0)
        new_mean /= np.linalg.norm(new_mean)
        mean = new_mean
    return mean


def main() -> None:
    data_dir = ROOT.parent / "shared" / "data"
    shapes = collect(data_dir)[:, 17:68]
    print(f"{len(shapes)} faces")
    mean = procrustes_mean(shapes)
    # Symmetrise: average the shape with its mirror image (x flipped, left/right swapped).
    mirror_idx = MIRROR[17:68] - 17
    mirrored = mean.copy()
    mirrored[:, 0] *= -1
    mirrored = mirrored[mirror_idx]
    mean = (mean + mirrored) / 2
    # Upright: the line between the eye centres horizontal.
    eye_r, eye_l = mean[36 - 17:42 - 17].mean(0), mean[42 - 17:48 - 17].mean(0)
    angle = np.arctan2(*(eye_l - eye_r)[::-1])
    c, s = np.cos(-angle), np.sin(-angle)
    mean = mean @ np.array([[c, -s], [s, c]]).T
    lo, hi = mean.min(0), mean.max(0)
    mean = (mean - (lo + hi) / 2) / (hi - lo).max() + 0.5
    out = {
        "about": "Mean positions of iBUG landmarks 17-67 in unit face space; derived by "
        "scripts/derive_mean_face.py from dlib 68-point landmarks on "
        f"{len(shapes)} frames of real talking-head footage (generalised Procrustes, "
        "symmetrised).",
        "points_17_67": np.round(mean, 6).tolist(),
    }
    target = ROOT / "src" / "faceforge" / "core" / "data" / "mean_face.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
