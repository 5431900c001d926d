"""What `tools sort` and `tools faces report` measure on a face image: identity descriptor,
sharpness, head pose, colour histogram and the face's size in its frame."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceforge.core import geometry
from faceforge.core.masks import landmark_mask
from faceforge.core.pose import head_pose
from faceforge.core.quality import laplacian_variance
from faceforge.errors import FormatError
from faceforge.events import EventSink
from faceforge.formats.face_png import read_face_png
from faceforge.tools.progress import Counter

_MEASURE_SIZE = 256  # faces are measured at this side, whatever size they were saved at
HIST_BINS = 8


@dataclass
class FaceMeasures:
    """The measures of one face image (None where not asked for)."""

    path: Path
    meta: dict[str, Any]
    blur: float | None = None  # variance of the Laplacian inside the face: higher is sharper
    yaw: float | None = None  # degrees
    pitch: float | None = None
    roll: float | None = None
    size_px: float | None = None  # face width in its frame, pixels
    histogram: np.ndarray | None = None
    descriptor: np.ndarray | None = None


def landmarks_in_image(meta: dict[str, Any]) -> np.ndarray:
    """The face's 68 landmarks in the pixels of its own image."""
    if meta.get("matrix") is None:
        raise FormatError(f"{meta.get('frame_name', 'a face image')} carries no alignment "
                          "matrix (a Faceswap face)",
                          "extract the faces with faceforge, or re-cut them from an imported "
                          "store with `tools alignments extract`")
    return geometry.transform_points(np.asarray(meta["landmarks"]), np.asarray(meta["matrix"]))


def face_region(meta: dict[str, Any], size: int) -> np.ndarray:
    """uint8 mask of the face (extended landmark mask) in an image of `size` pixels."""
    scale = size / meta["size"]
    matrix = np.asarray(meta["matrix"], np.float64) * scale
    return landmark_mask(np.asarray(meta["landmarks"]), matrix, size, "extended")


def blur_score(image_rgb: np.ndarray, region: np.ndarray) -> float:
    """Variance of the Laplacian of the grey face inside `region`: blurred faces score low
    (the sharpness measure `faceforge report` uses too)."""
    return laplacian_variance(image_rgb, region)


def colour_histogram(image_rgb: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Normalised 8x8x8 RGB histogram of the face, flattened."""
    hist = cv2.calcHist([image_rgb], [0, 1, 2], region, [HIST_BINS] * 3, [0, 256] * 3)
    hist = hist.flatten().astype(np.float32)
    return hist / max(float(hist.sum()), 1.0)


def face_size_px(meta: dict[str, Any]) -> float:
    """How wide the face is in its frame: pixels per unit of face space."""
    to_image = geometry.unit_to_aligned(meta["size"], meta["centering"],
                                        float(meta.get("coverage") or 1.0))[0, 0]
    return float(to_image / geometry.matrix_scale(np.asarray(meta["matrix"])))


def measure_faces(paths: Sequence[Path], *, blur: bool = False, pose: bool = False,
                  histogram: bool = False, size: bool = False, identity: bool = False,
                  on_event: EventSink | None = None, stop: threading.Event | None = None,
                  what: str = "measuring faces") -> list[FaceMeasures]:
    """The asked-for measures of every face image, in order."""
    describer = None
    if identity:
        from faceforge.plugins.identity import FaceDescriber

        describer = FaceDescriber()
    counter = Counter(len(paths), "face", on_event, stop, what)
    out = []
    for path in paths:
        counter.check_stop()
        image, meta = read_face_png(path)
        measures = FaceMeasures(path, meta)
        points = landmarks_in_image(meta)
        if blur or histogram:
            small = cv2.resize(image, (_MEASURE_SIZE, _MEASURE_SIZE),
                               interpolation=cv2.INTER_AREA)
            region = face_region(meta, _MEASURE_SIZE)
            if blur:
                measures.blur = blur_score(small, region)
            if histogram:
                measures.histogram = colour_histogram(small, region)
        if pose:
            measures.yaw, measures.pitch, measures.roll = head_pose(
                np.asarray(meta["landmarks"]), tuple(meta["source_size"]))
        if size:
            measures.size_px = face_size_px(meta)
        if describer is not None:
            measures.descriptor = describer.describe(image, [points])[0]
        out.append(measures)
        counter.advance()
    return out


def cluster_descriptors(descriptors: np.ndarray, threshold: float) -> np.ndarray:
    """A person number per descriptor: 0 for the person with the most faces, then 1, ...

    Chinese whispers over the graph of faces nearer than `threshold` (dlib's implementation,
    deterministic for a given input).
    """
    from faceforge.plugins.identity import cluster_descriptors as whispers

    labels = np.asarray(whispers(descriptors, threshold), dtype=np.int64)
    if labels.size == 0:
        return labels
    counts = np.bincount(labels)
    first_seen = {label: index for index, label in reversed(list(enumerate(labels)))}
    order = sorted(set(labels.tolist()), key=lambda label: (-counts[label], first_seen[label]))
    renumber = {label: rank for rank, label in enumerate(order)}
    return np.array([renumber[label] for label in labels.tolist()], dtype=np.int64)
