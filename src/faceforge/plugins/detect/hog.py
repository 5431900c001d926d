"""dlib's HOG + linear SVM frontal face detector: no model file, CPU only, frontal faces."""

from __future__ import annotations

import math
from dataclasses import dataclass

import dlib
import numpy as np

from faceforge.plugins.detect.base import DETECTORS, Detection, Detector


@dataclass
class HogConfig:
    """Options for the HOG detector.

    upsample: times dlib doubles the image before searching. The HOG window is 80 px, so 0
        finds faces of about 80 px and up; each step halves that and costs about 4x the time.
    threshold: added to dlib's SVM decision threshold; negative finds more (and more false) faces.
    """

    upsample: int = 0
    threshold: float = 0.0


def squash_score(margin: float) -> float:
    """Map a dlib detector margin (0 at its decision threshold) into [0, 1] with a logistic."""
    return 1.0 / (1.0 + math.exp(-margin))


def clip_box(
    left: float, top: float, right: float, bottom: float, width: int, height: int
) -> tuple[float, float, float, float] | None:
    """Clip a box to the frame; None when nothing of it is left inside."""
    left, right = max(0.0, float(left)), min(float(width), float(right))
    top, bottom = max(0.0, float(top)), min(float(height), float(bottom))
    if right - left < 1.0 or bottom - top < 1.0:
        return None
    return (left, top, right, bottom)


def as_frame(frame: np.ndarray) -> np.ndarray:
    """C-contiguous uint8 copy-if-needed: dlib silently finds nothing in non-contiguous arrays."""
    return np.ascontiguousarray(frame, dtype=np.uint8)


@DETECTORS.register("hog")
class HogDetector(Detector):
    """dlib HOG detector (frontal faces, about 80 px and larger at upsample 0)."""

    name = "hog"
    input_size = None

    def __init__(self, upsample: int = HogConfig.upsample, threshold: float = HogConfig.threshold):
        self.config = HogConfig(upsample=upsample, threshold=threshold)
        self._detector = dlib.get_frontal_face_detector()

    def process(self, batch: object) -> object:
        frames: list[np.ndarray] = batch  # type: ignore[assignment]
        return [
            self._detector.run(as_frame(f), self.config.upsample, self.config.threshold)
            for f in frames
        ]

    def post_process(self, raw: object, frames: list[np.ndarray]) -> list[list[Detection]]:
        results: list[list[Detection]] = []
        for (rects, scores, _), frame in zip(raw, frames, strict=True):  # type: ignore[attr-defined]
            height, width = frame.shape[:2]
            found = []
            for rect, margin in zip(rects, scores, strict=True):
                # dlib rectangles are inclusive: right/bottom is the last pixel inside.
                box = clip_box(
                    rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1, width, height
                )
                if box is not None:
                    found.append(Detection(box=box, score=squash_score(margin)))
            results.append(found)
        return results
