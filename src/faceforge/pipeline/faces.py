"""Finding faces in frames: detect → landmarks → filters → identity.

Shared by `extract` and by `convert --on-the-fly`. Detection runs on a batch of frames, the rest
frame by frame, with no state carried between frames, so a resumed extraction finds exactly
what an uninterrupted one would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceforge.core import geometry
from faceforge.core.image import normalize
from faceforge.core.thresholds import LANDMARK_RESIDUAL_LIMIT
from faceforge.errors import UsageError
from faceforge.options import EXTRACT_OPTIONS, option_defaults
from faceforge.plugins.align import LANDMARKERS, Landmarker
from faceforge.plugins.detect import DETECTORS, Detection, Detector

log = logging.getLogger(__name__)

# Re-feed shifts, as fractions of the box size: a fixed pattern so results are repeatable.
_REFEED_SHIFTS = ((0.05, 0.0), (-0.05, 0.0), (0.0, 0.05), (0.0, -0.05),
                  (0.04, 0.04), (-0.04, -0.04), (0.04, -0.04), (-0.04, 0.04))


@dataclass(kw_only=True)
@option_defaults(EXTRACT_OPTIONS)
class FaceFinderConfig:
    """The `extract` options that decide which faces are found (defaults from there)."""

    detector: str
    aligner: str
    weights_dir: str | None
    normalization: str
    re_feed: int
    rotate: tuple[int, ...] | None
    identity: bool
    min_size: int
    max_size: int
    landmark_threshold: float
    filter: list[str] | None
    nfilter: list[str] | None
    ref_threshold: float

    def __post_init__(self) -> None:
        if self.landmark_threshold < 0:
            raise UsageError(f"--landmark-threshold {self.landmark_threshold} is negative",
                             "use 0 to switch the check off, or a distance such as "
                             f"{LANDMARK_RESIDUAL_LIMIT}")


@dataclass
class FoundFace:
    detection: Detection
    landmarks: np.ndarray  # (68, 2) float32, frame px
    identity: np.ndarray | None = None  # (128,) float32


def box_diagonal(box: tuple[float, float, float, float]) -> float:
    return float(np.hypot(box[2] - box[0], box[3] - box[1]))


class FaceFinder:
    """Finds, landmarks and filters the faces of RGB frames, a batch at a time.

    The detector sees the whole batch in one call; landmarks, the sanity check, identity and
    filters follow frame by frame. `detector` and `landmarker` replace the plugins named in
    the config, e.g. with in-memory fakes in tests.
    """

    def __init__(
        self,
        config: FaceFinderConfig,
        detector: Detector | None = None,
        landmarker: Landmarker | None = None,
    ) -> None:
        self.config = config
        self.detector = (detector if detector is not None
                         else _build(DETECTORS.get(config.detector), config.weights_dir))
        self.landmarker = (landmarker if landmarker is not None
                           else _build(LANDMARKERS.get(config.aligner), config.weights_dir))
        self.describer = None
        self.keep_refs: np.ndarray | None = None
        self.drop_refs: np.ndarray | None = None
        if config.identity or config.filter or config.nfilter:
            from faceforge.plugins.identity import FaceDescriber, reference_descriptors

            self.describer = FaceDescriber()
            if config.filter:
                self.keep_refs = reference_descriptors(
                    [Path(p) for p in config.filter], self.detector, self.landmarker)
            if config.nfilter:
                self.drop_refs = reference_descriptors(
                    [Path(p) for p in config.nfilter], self.detector, self.landmarker)

    def find(self, image: np.ndarray) -> list[FoundFace]:
        return self.find_batch([image])[0]

    def find_batch(self, images: list[np.ndarray]) -> list[list[FoundFace]]:
        """The faces of each image, left to right; one detector call for the whole batch."""
        detections = self._detect(images)
        found = [self._finish(image, frame_detections)
                 for image, frame_detections in zip(images, detections, strict=True)]
        undetected = [i for i, frame_detections in enumerate(detections) if not frame_detections]
        if self.config.rotate and undetected:
            self._find_rotated(images, undetected, found)
        return found

    # -- stages ----------------------------------------------------------------------------

    def _detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        seen = [normalize(image, self.config.normalization) for image in images]
        return [self._size_filtered(detections) for detections in self.detector.detect(seen)]

    def _size_filtered(self, detections: list[Detection]) -> list[Detection]:
        kept = []
        for det in detections:
            diagonal = box_diagonal(det.box)
            if self.config.min_size and diagonal < self.config.min_size:
                continue
            if self.config.max_size and diagonal > self.config.max_size:
                continue
            kept.append(det)
        # Left to right, so face indices are stable and easy to read.
        return sorted(kept, key=lambda d: (d.box[0], d.box[1]))

    def _landmarks(self, image: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        points = [np.asarray(p, dtype=np.float64)
                  for p in self.landmarker.landmarks(image, detections)]
        if self.config.re_feed:
            for i in range(self.config.re_feed):
                dx, dy = _REFEED_SHIFTS[i % len(_REFEED_SHIFTS)]
                shifted = [_shift(d, dx, dy) for d in detections]
                for j, extra in enumerate(self.landmarker.landmarks(image, shifted)):
                    points[j] += extra
            points = [p / (self.config.re_feed + 1) for p in points]
        return [p.astype(np.float32) for p in points]

    def _finish(self, image: np.ndarray, detections: list[Detection]) -> list[FoundFace]:
        if not detections:
            return []
        faces = []
        for det, landmarks in zip(detections, self._landmarks(image, detections), strict=True):
            if self.config.landmark_threshold and not looks_like_a_face(
                landmarks, self.config.landmark_threshold
            ):
                log.debug("dropped a detection whose landmarks do not look like a face")
                continue
            faces.append(FoundFace(det, landmarks))
        if self.describer is not None and faces:
            descriptors = self.describer.describe(image, [f.landmarks for f in faces])
            for face, descriptor in zip(faces, descriptors, strict=True):
                face.identity = np.asarray(descriptor, dtype=np.float32)
            faces = [f for f in faces if self._passes_identity_filters(f)]
        return faces

    def _passes_identity_filters(self, face: FoundFace) -> bool:
        threshold = self.config.ref_threshold
        if self.keep_refs is not None:
            if _min_distance(face.identity, self.keep_refs) > threshold:
                return False
        if self.drop_refs is not None:
            if _min_distance(face.identity, self.drop_refs) <= threshold:
                return False
        return True

    def _find_rotated(
        self, images: list[np.ndarray], missing: list[int], found: list[list[FoundFace]]
    ) -> None:
        """Retry the frames at indices `missing` rotated by each angle in turn, one detector
        call per angle, until faces are found; they are mapped back to the frame in `found`."""
        for angle in self.config.rotate or ():
            if not missing:
                return
            rotations = [rotate_image(images[i], angle) for i in missing]
            detections = self._detect([rotated for rotated, _ in rotations])
            still_missing = []
            for i, (rotated, to_rotated), frame_detections in zip(
                missing, rotations, detections, strict=True
            ):
                faces = self._finish(rotated, frame_detections)
                if not faces:
                    still_missing.append(i)
                    continue
                height, width = images[i].shape[:2]
                back = geometry.invert(to_rotated)
                for face in faces:
                    face.landmarks = geometry.transform_points(face.landmarks, back).astype(
                        np.float32)
                    face.detection = _map_detection(face.detection, back, width, height)
                log.debug("found %d face(s) after rotating by %d degrees", len(faces), angle)
                found[i] = faces
            missing = still_missing


def _build(plugin: Any, weights_dir: str | None) -> Any:
    """A plugin with default options; those whose weights are downloaded (they name a
    `weights_model`) also get the --weights-dir folder."""
    if weights_dir and getattr(plugin, "weights_model", None):
        return plugin(weights_dir=weights_dir)
    return plugin()


def looks_like_a_face(landmarks: np.ndarray, threshold: float) -> bool:
    """Landmark sanity check: aligned landmarks must lie near the mean face."""
    if not np.all(np.isfinite(landmarks)):
        return False
    return geometry.alignment_residual(landmarks) <= threshold


def _min_distance(descriptor: np.ndarray | None, refs: np.ndarray) -> float:
    if descriptor is None:
        return float("inf")
    return float(np.linalg.norm(refs - descriptor[None, :], axis=1).min())


def _shift(det: Detection, dx: float, dy: float) -> Detection:
    w, h = det.width, det.height
    left, top, right, bottom = det.box
    box = (left + dx * w, top + dy * h, right + dx * w, bottom + dy * h)
    keypoints = None if det.keypoints is None else det.keypoints + [dx * w, dy * h]
    return replace(det, box=box, keypoints=keypoints)


def rotate_image(image: np.ndarray, angle: int) -> tuple[np.ndarray, np.ndarray]:
    """Rotate an image counter-clockwise by `angle` degrees onto a canvas that holds all of it.

    Returns the rotated image and the 2x3 matrix from original to rotated pixel coordinates.
    """
    height, width = image.shape[:2]
    centre = (width / 2.0, height / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w = int(round(height * sin + width * cos))
    new_h = int(round(height * cos + width * sin))
    matrix[0, 2] += new_w / 2.0 - centre[0]
    matrix[1, 2] += new_h / 2.0 - centre[1]
    rotated = cv2.warpAffine(image, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR)
    return np.ascontiguousarray(rotated), matrix


def _map_detection(det: Detection, matrix: np.ndarray, width: int, height: int) -> Detection:
    left, top, right, bottom = det.box
    corners = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], float)
    mapped = geometry.transform_points(corners, matrix)
    lo = np.clip(mapped.min(axis=0), 0, [width, height])
    hi = np.clip(mapped.max(axis=0), 0, [width, height])
    keypoints = None
    if det.keypoints is not None:
        keypoints = geometry.transform_points(det.keypoints, matrix).astype(np.float32)
    return replace(det, box=(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])),
                   keypoints=keypoints)

