"""Derive the MediaPipe mesh (468) -> iBUG 68 mapping used by the `mesh` landmarker.

For frontal frames of the single-person clips, dlib's 68 points (on dlib HOG boxes, the boxes
it was trained on) are the target, and the mesh runs on BlazeFace short-range detections, the
way extraction runs it. For each of the 68 points, every single vertex and every pair of the
8 best vertices (with the least-squares blend weight in [0, 1]) is scored by its mean error in
inter-ocular units on half the frames; the best is kept and its error on the other half is
reported. Writes src/faceforge/plugins/align/data/mesh68_mapping.json.

Run: .venv/bin/python benchmarks/derive_mesh68_mapping.py [VIDEO_DIR]
"""

from __future__ import annotations

import datetime
import itertools
import json
import sys
from pathlib import Path

import av
import numpy as np

from faceforge.plugins.align.dlib68 import Dlib68Landmarker
from faceforge.plugins.align.mesh import MAPPING_FILE, MeshLandmarker
from faceforge.plugins.detect import DETECTORS

VIDEO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
CLIPS = ["WolfgangLanger_Pexels.mp4", "lp_d18.mp4", "lp_d19.mp4", "lp_d9.mp4", "lp_d6.mp4",
         "lp_d3.mp4", "lp_d10.mp4", "lp_s32.mp4", "single_face.mp4"]
EVERY_NTH_FRAME = 4
#: nose tip off the eye-corner midline by less than this share of the eye-corner distance
MAX_YAW_OFFSET = 0.08
CANDIDATES = 8


def sample_frames(path: Path, every: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [
            frame.to_ndarray(format="rgb24")
            for i, frame in enumerate(container.decode(video=0))
            if i % every == 0
        ]


def collect(video_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dlib 68 points (F, 68, 2), mesh points (F, 468, 2) and inter-ocular distances (F,)."""
    hog, blazeface = DETECTORS.get("hog")(), DETECTORS.get("blazeface")()
    dlib68, mesh = Dlib68Landmarker(box_source="hog"), MeshLandmarker(mapping_file=None)
    targets, meshes = [], []
    for clip in CLIPS:
        for frame in sample_frames(video_dir / clip, EVERY_NTH_FRAME):
            hog_faces, blaze_faces = hog.detect([frame])[0], blazeface.detect([frame])[0]
            if len(hog_faces) != 1 or len(blaze_faces) != 1:
                continue
            points = dlib68.landmarks(frame, hog_faces)[0]
            eye_vector = points[45] - points[36]
            inter_ocular = float(np.linalg.norm(eye_vector))
            nose_offset = np.dot(points[30] - (points[36] + points[45]) / 2, eye_vector)
            if abs(nose_offset) / inter_ocular**2 > MAX_YAW_OFFSET:
                continue
            targets.append(points)
            meshes.append(mesh.mesh468(frame, blaze_faces)[0][:, :2])
    target, mesh_points = np.array(targets, np.float64), np.array(meshes, np.float64)
    inter_ocular = np.linalg.norm(target[:, 45] - target[:, 36], axis=1)
    return target, mesh_points, inter_ocular


def best_blend(
    target: np.ndarray, mesh_points: np.ndarray, scale: np.ndarray
) -> tuple[list[tuple[int, float]], float]:
    """Best single vertex or 2-vertex blend for one point; returns terms and mean error."""
    per_vertex = (np.linalg.norm(mesh_points - target[:, None], axis=2) / scale[:, None]).mean(0)
    best_terms: list[tuple[int, float]] = [(int(per_vertex.argmin()), 1.0)]
    best_error = float(per_vertex.min())
    for a, b in itertools.combinations(np.argsort(per_vertex)[:CANDIDATES], 2):
        span = (mesh_points[:, a] - mesh_points[:, b]) / scale[:, None]
        rest = (target - mesh_points[:, b]) / scale[:, None]
        weight = float(np.clip((span * rest).sum() / max((span * span).sum(), 1e-12), 0, 1))
        error = float(np.linalg.norm(weight * span - rest, axis=1).mean())
        if error < best_error:
            best_terms, best_error = [(int(a), weight), (int(b), 1 - weight)], error
    return best_terms, best_error


def main() -> None:
    video_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else VIDEO_DIR
    target, mesh_points, inter_ocular = collect(video_dir)
    fit, held_out = slice(0, None, 2), slice(1, None, 2)
    points, fit_errors, held_errors = [], [], []
    for j in range(68):
        terms, error = best_blend(target[fit, j], mesh_points[fit], inter_ocular[fit])
        blended = sum(w * mesh_points[held_out, v] for v, w in terms)
        held = np.linalg.norm(blended - target[held_out, j], axis=1) / inter_ocular[held_out]
        points.append([[v, round(w, 4)] for v, w in terms])
        fit_errors.append(error)
        held_errors.append(float(held.mean()))
    spec = {
        "version": 1,
        "note": (
            "iBUG 68 point j = sum(weight * mesh vertex) over points[j]. Derived by "
            "benchmarks/derive_mesh68_mapping.py: dlib 68-point predictions (on dlib HOG boxes) "
            f"as target on {len(target)} frontal frames (every {EVERY_NTH_FRAME}th frame of "
            f"{len(CLIPS)} single-person clips in shared/data/video), mesh run on BlazeFace "
            "short-range detections; best single vertex or 2-vertex blend per point, fitted on "
            "even frames. Mean error on the odd (held-out) frames: "
            f"{100 * np.mean(held_errors):.2f}% of the outer eye-corner distance."
        ),
        "created": datetime.date.today().isoformat(),
        "frames": int(len(target)),
        "held_out_error_per_point": [round(e, 4) for e in held_errors],
        "points": points,
    }
    MAPPING_FILE.write_text(json.dumps(spec, indent=1) + "\n")
    print(f"{len(target)} frames; mean error fit {100 * np.mean(fit_errors):.2f}%, "
          f"held out {100 * np.mean(held_errors):.2f}% of inter-ocular distance")
    print(f"wrote {MAPPING_FILE}")


if __name__ == "__main__":
    main()
