"""dlib's CNN (MMOD) face detector: more pose-tolerant than HOG, slow on a CPU."""

from __future__ import annotations

from dataclasses import dataclass

import dlib
import numpy as np

from faceforge.plugins.detect.base import (
    DETECTORS,
    Detection,
    Detector,
    as_frame,
    clip_box,
    squash_score,
)
from faceforge.plugins.model_files import dlib_model


@dataclass
class CnnConfig:
    """Options for the MMOD CNN detector.

    upsample: times dlib doubles the image first; the network's smallest face is about 40 px at
        0 upsampling. Each step costs about 4x the time.
    min_confidence: drop detections whose raw MMOD confidence is below this (dlib's own cut is 0).
    """

    upsample: int = 0
    min_confidence: float = 0.0


@DETECTORS.register("cnn")
class CnnDetector(Detector):
    """dlib MMOD human face detector (mmod_human_face_detector.dat)."""

    name = "cnn"
    input_size = None
    #: the median HOG box relative to this detector's box, over every 4th of 344 frames of 8
    #: single-person clips (benchmarks/calibrate_dlib_box.py)
    dlib_box_calibration = (0.0549, 0.0928, 1.0928)

    def __init__(
        self, upsample: int = CnnConfig.upsample, min_confidence: float = CnnConfig.min_confidence
    ):
        self.config = CnnConfig(upsample=upsample, min_confidence=min_confidence)
        self._detector = dlib.cnn_face_detection_model_v1(
            str(dlib_model("mmod_human_face_detector.dat"))
        )

    def process(self, batch: object) -> object:
        frames: list[np.ndarray] = batch  # type: ignore[assignment]
        # One call per frame: dlib's batched call needs equal-sized images and gains little on CPU.
        return [self._detector(as_frame(f), self.config.upsample) for f in frames]

    def post_process(self, raw: object, frames: list[np.ndarray]) -> list[list[Detection]]:
        results: list[list[Detection]] = []
        for mmod_rects, frame in zip(raw, frames, strict=True):  # type: ignore[call-overload]
            height, width = frame.shape[:2]
            found = []
            for mmod in mmod_rects:
                if mmod.confidence < self.config.min_confidence:
                    continue
                rect = mmod.rect
                box = clip_box(
                    rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1, width, height
                )
                if box is not None:
                    found.append(Detection(box=box, score=squash_score(mmod.confidence)))
            results.append(found)
        return results
