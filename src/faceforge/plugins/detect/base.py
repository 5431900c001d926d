"""The detector contract: RGB uint8 frames in, face boxes in frame pixels out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from faceforge.plugins.registry import Registry


@dataclass
class Detection:
    """One face found in a frame.

    box: (left, top, right, bottom) in frame pixels, floats.
    score: detector confidence in [0, 1] (dlib HOG/CNN scores are squashed into that range).
    keypoints: optional (K, 2) float32 points in frame pixels (BlazeFace gives 6).
    source: the registered name of the detector that made it (landmarkers calibrate by it).
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray | None = field(default=None, repr=False)
    source: str = ""

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


class Detector:
    """Base class. Subclasses implement pre_process / process / post_process on a batch.

    `detect(frames)` takes a list of HxWx3 RGB uint8 C-contiguous arrays (frames may differ in
    size) and returns one list of Detection per frame.
    """

    name: str = ""
    #: what the model looks at, for the docs and benchmarks: (width, height) or None if any size
    input_size: tuple[int, int] | None = None
    colour_order: str = "RGB"

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
        return found


DETECTORS: Registry[type[Detector]] = Registry("detector")
