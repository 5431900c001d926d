"""Aligned-face geometry: Umeyama similarity transforms, the mean face, centering and coverage.

Coordinates: frame pixels (x right, y down). *Unit face space* is the space of the mean face:
landmarks 17-67 of an average face fill the unit square. A face's *legacy matrix* (2x3) maps frame
pixels to unit face space; every aligned crop (any size, centering, coverage) is derived from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from faceforge.core.landmarks import ALIGN_POINTS

CENTERINGS = ("face", "head", "legacy")


def umeyama(src: np.ndarray, dst: np.ndarray, estimate_scale: bool = True) -> np.ndarray:
    """Least-squares similarity transform (3x3, homogeneous) that maps src points onto dst.

    Umeyama (1991), "Least-squares estimation of transformation parameters between two point
    patterns". Reflections are excluded, so the result is rotation + uniform scale + translation.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[0] < 2:
        raise ValueError(f"umeyama needs two equal (N, D) point sets, got {src.shape}, {dst.shape}")
    n, dim = src.shape
    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    src_c = src - src_mean
    dst_c = dst - dst_mean
    covariance = dst_c.T @ src_c / n
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(dim)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0  # flip the weakest axis instead of reflecting
    rotation = u @ np.diag(sign) @ vt
    scale = 1.0
    if estimate_scale:
        src_var = (src_c**2).sum() / n
        scale = float((singular * sign).sum() / src_var) if src_var > 0 else 1.0
    transform = np.eye(dim + 1)
    transform[:dim, :dim] = scale * rotation
    transform[:dim, dim] = dst_mean - scale * rotation @ src_mean
    return transform


@lru_cache(maxsize=1)
def mean_face() -> np.ndarray:
    """The (51, 2) mean positions of landmarks 17-67 in unit face space (a float64 copy)."""
    text = resources.files("faceforge.core").joinpath("data/mean_face.json").read_text()
    points = np.asarray(json.loads(text)["points_17_67"], dtype=np.float64)
    points.setflags(write=False)
    return points


def legacy_matrix(landmarks_68: np.ndarray) -> np.ndarray:
    """The 2x3 matrix taking frame pixels to unit face space for one face."""
    landmarks_68 = np.asarray(landmarks_68, dtype=np.float64)
    return umeyama(landmarks_68[ALIGN_POINTS], mean_face())[:2]


@dataclass(frozen=True)
class Crop:
    """A square window in unit face space: its centre and side length at coverage 1.0."""

    centre_x: float
    centre_y: float
    side: float


# Windows in unit face space for each centering, chosen by looking at aligned real faces:
# "legacy" is the classic tight crop around brows to lips; "face" adds the chin and cheeks;
# "head" holds the whole head with hair, which is what extraction stores so that training can
# cut any other centering out of it.
CROPS = {
    "legacy": Crop(0.5, 0.5, 1.25),
    "face": Crop(0.5, 0.58, 1.55),
    "head": Crop(0.5, 0.38, 2.4),
}


def _crop(centering: str) -> Crop:
    try:
        return CROPS[centering]
    except KeyError:
        raise ValueError(f"unknown centering {centering!r}; choose from {CENTERINGS}") from None


def unit_to_aligned(size: int, centering: str = "head", coverage: float = 1.0) -> np.ndarray:
    """3x3 matrix from unit face space to the pixels of a size x size aligned face."""
    if not 0.0 < coverage <= 2.0:
        raise ValueError(f"coverage must be in (0, 2], got {coverage}")
    crop = _crop(centering)
    side = crop.side * coverage
    scale = size / side
    matrix = np.eye(3)
    matrix[0, 0] = matrix[1, 1] = scale
    matrix[0, 2] = (side / 2 - crop.centre_x) * scale
    matrix[1, 2] = (side / 2 - crop.centre_y) * scale
    return matrix


def to_homogeneous(matrix_2x3: np.ndarray) -> np.ndarray:
    out = np.eye(3)
    out[:2] = matrix_2x3
    return out


def aligned_matrix(
    legacy: np.ndarray, size: int, centering: str = "head", coverage: float = 1.0
) -> np.ndarray:
    """2x3 matrix from frame pixels to an aligned face of the given size/centering/coverage."""
    return (unit_to_aligned(size, centering, coverage) @ to_homogeneous(legacy))[:2]


def change_crop(
    from_size: int,
    from_centering: str,
    to_size: int,
    to_centering: str,
    from_coverage: float = 1.0,
    to_coverage: float = 1.0,
) -> np.ndarray:
    """2x3 matrix from one aligned crop's pixels to another's (e.g. head 512 → face 64)."""
    src = unit_to_aligned(from_size, from_centering, from_coverage)
    dst = unit_to_aligned(to_size, to_centering, to_coverage)
    return (dst @ np.linalg.inv(src))[:2]


def invert(matrix_2x3: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    return np.linalg.inv(to_homogeneous(matrix_2x3))[:2]


def transform_points(points: np.ndarray, matrix_2x3: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ np.asarray(matrix_2x3)[:, :2].T + np.asarray(matrix_2x3)[:, 2]


def matrix_scale(matrix_2x3: np.ndarray) -> float:
    """The uniform scale of a similarity matrix."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(matrix_2x3)[:, :2]))))


def alignment_residual(landmarks_68: np.ndarray, legacy: np.ndarray | None = None) -> float:
    """Mean distance, in unit face space, between a face's aligned landmarks and the mean face.

    Small for anything face-shaped whatever its pose in the frame; large when the landmarker was
    fed something that is not a face. Used by the landmark sanity filter.
    """
    landmarks_68 = np.asarray(landmarks_68, dtype=np.float64)
    if legacy is None:
        legacy = legacy_matrix(landmarks_68)
    aligned = transform_points(landmarks_68[ALIGN_POINTS], legacy)
    return float(np.linalg.norm(aligned - mean_face(), axis=1).mean())
