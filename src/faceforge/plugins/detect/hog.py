"""dlib's HOG + linear SVM frontal face detector: no model file, CPU only, frontal faces."""

from __future__ import annotations

from dataclasses import dataclass

import dlib
import numpy as np

from faceforge.plugins.detect.base import (
    DETECTORS,
    HOG_BOX,
    Detection,
    Detector,
    as_frame,
    clip_box,
    squash_score,
)


@dataclass
class HogConfig:
    """Options for the HOG detector.

    upsample: times dlib doubles the image before searching. The HOG window is 80 px, so 0
        finds faces of about 80 px and up; each step halves that and costs about 4x the time.
    threshold: added to dlib's SVM decision threshold; negative finds more (and more false) faces.
    """

    upsample: int = 0
    threshold: float = 0.0


@DETECTORS.register("hog")
class HogDetector(Detector):
    """dlib HOG detector (frontal faces, about 80 px and larger at upsample 0)."""

    name = "hog"
    input_size = None
    #: the dlib landmarker was trained on these very boxes
    dlib_box_calibration = HOG_BOX

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
