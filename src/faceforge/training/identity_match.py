"""The identity-match score at each save: do the A→B swaps look like B to a face recogniser?"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import torch

from faceforge.events import Metrics
from faceforge.training.callbacks import Callback
from faceforge.training.previews import to_uint8_hwc

if TYPE_CHECKING:
    from faceforge.training.loop import TrainingRun

log = logging.getLogger(__name__)


class IdentityMatch(Callback):
    """How much the A→B swaps look like B to a face-recognition network (dlib, 128-d).

    Computed once: the centroids of A's and B's training faces. At each save: a fixed sample of
    A faces is swapped to B, and the mean distance of the swaps to each centroid is logged, plus
    the share of swaps nearer B than A. Landmarks of the A faces stand in for the swaps' own,
    since a swap keeps A's pose and expression.
    """

    upscale = 4  # dlib's descriptor wants about 150 px faces; training crops are smaller

    def __init__(self, faces_a: torch.Tensor, landmarks_a: torch.Tensor,
                 faces_b: torch.Tensor, landmarks_b: torch.Tensor, sample: int = 16,
                 describer: object | None = None) -> None:
        if describer is None:
            from faceforge.plugins.identity import FaceDescriber

            describer = FaceDescriber()
        self.describer = describer  # anything with describe(image, [landmarks]) -> (N, 128)
        self.sample_faces = faces_a[:sample]
        self.sample_landmarks = landmarks_a[:sample]
        self.centroid_a = self._describe(faces_a[:64], landmarks_a[:64]).mean(axis=0)
        self.centroid_b = self._describe(faces_b[:64], landmarks_b[:64]).mean(axis=0)

    def _describe(self, faces: torch.Tensor, landmarks: torch.Tensor) -> np.ndarray:
        out = []
        for face, points in zip(faces, landmarks, strict=True):
            size = face.shape[-1] * self.upscale
            image = to_uint8_hwc(face, size)
            scale = size / face.shape[-1]
            out.append(self.describer.describe(image, [points.numpy() * scale])[0])
        return np.stack(out)

    def on_save(self, run: TrainingRun) -> None:
        started = time.perf_counter()
        swapped = run.swapper(self.sample_faces, "b")
        input_size = self.sample_faces.shape[-1]
        # Swaps may be larger than the crops (e.g. dfaker 64→128): scale landmarks to match.
        landmarks = self.sample_landmarks * (swapped.shape[-1] / input_size)
        descriptors = self._describe(swapped, landmarks)
        to_b = np.linalg.norm(descriptors - self.centroid_b, axis=1)
        to_a = np.linalg.norm(descriptors - self.centroid_a, axis=1)
        log.debug("identity match took %.0f ms", (time.perf_counter() - started) * 1000)
        values = {"identity/a2b_to_b": float(to_b.mean()),
                  "identity/a2b_to_a": float(to_a.mean()),
                  "identity/a2b_nearer_b": float((to_b < to_a).mean())}
        run.metrics.setdefault(run.iteration, {}).update(values)
        run.state.loss["identity"] = values
        run.emit(Metrics(run.iteration, values))
