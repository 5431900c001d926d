"""Compare what two versions of faceforge wrote for the same jobs: are the results unchanged?

Given two folders that each hold the same job outputs (as `scripts/run_jobs.sh` writes them),
compares, for every alignments store (`*.db`), the frames, face indices, boxes, scores and
68 landmarks, and for every faces folder (`faces_*`) and frames folder (`conv_png`) the PNG
files' pixels. Prints one line per item and exits 1 if anything differs.

    .venv/bin/python scripts/compare_outputs.py OLD_OUTPUTS NEW_OUTPUTS
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from faceforge.formats.alignments import AlignmentsStore


def store_faces(path: Path) -> dict[tuple[int, int], tuple]:
    with AlignmentsStore.open(path, "r") as store:
        return {(frame.index, face.face_index): (face.box, face.score, face.landmarks)
                for frame in store.iter_frames() for face in frame.faces}


def compare_store(old: Path, new: Path) -> str | None:
    a, b = store_faces(old), store_faces(new)
    if a.keys() != b.keys():
        return f"faces differ: {len(a)} then, {len(b)} now"
    worst = 0.0
    for key, (box, score, landmarks) in a.items():
        box2, score2, landmarks2 = b[key]
        if box != box2 or score != score2:
            return f"frame {key[0]} face {key[1]}: box or score differ"
        worst = max(worst, float(np.abs(landmarks - landmarks2).max()))
    if worst > 0:
        return f"landmarks differ by up to {worst:.3g} px"
    return None if a else "empty"


def compare_pngs(old: Path, new: Path) -> str | None:
    names = sorted(p.name for p in old.glob("*.png"))
    if names != sorted(p.name for p in new.glob("*.png")):
        return "different file names"
    for name in names:
        a = cv2.imread(str(old / name), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(new / name), cv2.IMREAD_UNCHANGED)
        if a.shape != b.shape or not np.array_equal(a, b):
            return f"{name}: pixels differ"
    return None if names else "no PNG files"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    failures = 0
    items = [(p.name, compare_store) for p in sorted(args.old.glob("*.db"))]
    items += [(p.name, compare_pngs) for p in sorted(args.old.iterdir())
              if p.is_dir() and (p.name.startswith("faces_") or p.name == "conv_png")]
    for name, compare in items:
        problem = compare(args.old / name, args.new / name)
        count = (len(store_faces(args.old / name)) if name.endswith(".db")
                 else len(list((args.old / name).glob("*.png"))))
        print(f"{name}: {'identical' if problem is None else problem} ({count} "
              f"{'faces' if name.endswith('.db') else 'PNG files'})")
        failures += problem is not None
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
