"""The detector contract: RGB uint8 frames in, face boxes in frame pixels out.

Also the small box helpers every detector shares: clipping to the frame, squashing a margin
into a score, and the contiguous uint8 frame dlib needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from faceforge.plugins.registry import Registry

#: Where dlib's HOG detector would put its box, relative to another detector's box:
#: (centre shift x in box widths, centre shift y in box heights, size ratio), or with two
#: ratios (width ratio, height ratio) for detectors whose boxes are not square, such as
#: MTCNN's and RetinaFace's (taller than wide, where HOG's are square). The dlib landmarker
#: was trained on HOG boxes and maps every box through this first.
BoxCalibration = tuple[float, ...]

#: The calibration of a box that already is a HOG box.
HOG_BOX: BoxCalibration = (0.0, 0.0, 1.0)


@dataclass
class Detection:
    """One face found in a frame.

    box: (left, top, right, bottom) in frame pixels, floats.
    score: detector confidence in [0, 1] (dlib HOG/CNN scores are squashed into that range).
    keypoints: optional (K, 2) float32 points in frame pixels (BlazeFace gives 6).
    source: the registered name of the detector that made it.
    dlib_box_calibration: that detector's BoxCalibration, for the dlib landmarker; None for a
        box made by hand, which is taken as a HOG box.
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray | None = field(default=None, repr=False)
    source: str = ""
    dlib_box_calibration: BoxCalibration | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


class Detector:
    """Base class. Subclasses implement pre_process / process / post_process on a batch.

    `detect(frames)` takes a list of HxWx3 RGB uint8 C-contiguous arrays (frames may differ in
    size) and returns one list of Detection per frame, each stamped with the detector's name
    and dlib box calibration.
    """

    name: str = ""
    #: what the model looks at, for the docs and benchmarks: (width, height) or None if any size
    input_size: tuple[int, int] | None = None
    colour_order: str = "RGB"
    #: measured per detector (benchmarks/calibrate_dlib_box.py); None until someone has, which
    #: the detector contract tests refuse.
    dlib_box_calibration: ClassVar[BoxCalibration | None] = None

    def pre_process(self, frames: list[np.ndarray]) -> object:
        return frames

    def process(self, batch: object) -> object:
        raise NotImplementedError

    def post_process(self, raw: object, frames: list[np.ndarray]) -> list[list[Detection]]:
        raise NotImplementedError

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        if not frames:
            return []
        found = self.post_process(self.process(self.pre_process(frames)), frames)
        for detections in found:
            for detection in detections:
                detection.source = detection.source or self.name
                if detection.dlib_box_calibration is None:
                    detection.dlib_box_calibration = self.dlib_box_calibration
        return found


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


DETECTORS: Registry[type[Detector]] = Registry("detector")
