"""The landmarker contract: a frame and its detections in, 68 iBUG points per face out."""

from __future__ import annotations

import numpy as np

from faceforge.plugins.detect.base import Detection
from faceforge.plugins.registry import Registry


class Landmarker:
    """Base class for 68-point landmarkers.

    `landmarks(frame, detections)` takes one HxWx3 RGB uint8 frame and its detections and returns
    a list (same order) of (68, 2) float32 arrays in frame pixel coordinates, iBUG 68 layout.
    Landmarkers that predict other layouts convert to 68 before returning.
    """

    name: str = ""
    input_size: tuple[int, int] | None = None
    colour_order: str = "RGB"

    def landmarks(self, frame: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        raise NotImplementedError


LANDMARKERS: Registry[type[Landmarker]] = Registry("aligner")
