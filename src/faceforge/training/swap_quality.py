"""Expression kept and sharpness at each save: the `report` measures on training faces, so
the curves beside the identity match show when more training stops paying."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import torch

from faceforge.core import quality
from faceforge.core.masks import landmark_mask
from faceforge.events import Metrics
from faceforge.training.callbacks import Callback
from faceforge.training.previews import to_uint8_hwc

if TYPE_CHECKING:
    from faceforge.training.loop import TrainingRun

log = logging.getLogger(__name__)

LANDMARK_SIDE = 256  # dlib's shape predictor wants faces of this order; crops are upscaled


class SwapQuality(Callback):
    """How well the A→B swaps keep A's expression, and how sharp they are, on a fixed sample.

    The sample is A faces spread over the range of mouth openings (so the correlation has
    something to follow). At each save they are swapped to B, and dlib's landmarker finds the
    mouth and eyes of each swap and of its A face from the same box (A's landmarks' bounds):
    the correlations of mouth and eye opening (÷ face size) over the sample are logged. The
    sharpness is the variance of the Laplacian inside the face mask of the swaps over that of
    the A faces, both at the model's output size: how much of the detail the model can draw it
    has learnt (the report measures it in the frame, where the output size counts too).
    """

    def __init__(self, faces_a: torch.Tensor, landmarks_a: torch.Tensor, sample: int = 16,
                 landmarker: object | None = None) -> None:
        if landmarker is None:
            from faceforge.plugins.align import LANDMARKERS

            landmarker = LANDMARKERS.get("dlib")()
        self.landmarker = landmarker  # anything with landmarks(image, [Detection]) -> [68x2]
        mouths = np.array([quality.mouth_opening(points.numpy()) for points in landmarks_a])
        order = np.argsort(mouths, kind="stable")
        picks = order[np.unique(np.linspace(0, len(order) - 1, min(sample, len(order)))
                                .round().astype(int))]
        self.faces = faces_a[torch.from_numpy(picks)]
        self.landmarks = landmarks_a[torch.from_numpy(picks)].numpy().astype(np.float64)
        self.source = self._expressions(self.faces)
        self._source_sharpness: dict[int, float] = {}

    def _expressions(self, faces: torch.Tensor) -> np.ndarray:
        """(N, 2) mouth and eye opening of each face, landmarked by dlib from A's box."""
        from faceforge.plugins.detect.base import Detection

        scale = LANDMARK_SIDE / self.faces.shape[-1]
        out = []
        for face, points in zip(faces, self.landmarks, strict=True):
            image = to_uint8_hwc(face, LANDMARK_SIDE)
            box_points = points * scale
            low, high = box_points.min(axis=0), box_points.max(axis=0)
            detection = Detection((float(low[0]), float(low[1]), float(high[0]),
                                   float(high[1])), 1.0)
            found = np.asarray(self.landmarker.landmarks(image, [detection])[0], np.float64)
            out.append((quality.mouth_opening(found), quality.eye_opening(found)))
        return np.array(out)

    def _sharpness(self, faces: torch.Tensor, size: int) -> float:
        """Mean variance of the Laplacian inside each face's mask, at `size` pixels."""
        scale = size / self.faces.shape[-1]
        identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        values = []
        for face, points in zip(faces, self.landmarks, strict=True):
            region = landmark_mask(points * scale, identity, size, "extended")
            values.append(quality.laplacian_variance(to_uint8_hwc(face, size), region))
        return float(np.mean(values))

    def on_save(self, run: TrainingRun) -> None:
        started = time.perf_counter()
        swapped = run.swapper(self.faces, "b")
        size = swapped.shape[-1]
        if size not in self._source_sharpness:
            self._source_sharpness[size] = self._sharpness(self.faces, size)
        swaps = self._expressions(swapped)
        source_sharpness = self._source_sharpness[size]
        values = {
            "quality/a2b_mouth_correlation": _finite(quality.correlation(self.source[:, 0],
                                                                        swaps[:, 0])),
            "quality/a2b_eye_correlation": _finite(quality.correlation(self.source[:, 1],
                                                                      swaps[:, 1])),
            "quality/a2b_sharpness_ratio": (self._sharpness(swapped, size) / source_sharpness
                                            if source_sharpness > 0 else 0.0),
        }
        log.debug("swap quality took %.0f ms", (time.perf_counter() - started) * 1000)
        run.metrics.setdefault(run.iteration, {}).update(values)
        run.state.loss["quality"] = values
        run.emit(Metrics(run.iteration, values))


def _finite(value: float) -> float:
    """NaN (a sample whose swaps do not vary yet) logged as 0: no correlation."""
    return value if np.isfinite(value) else 0.0
