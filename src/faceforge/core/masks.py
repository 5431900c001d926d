"""Landmark masks (`components`, `extended`) drawn in any aligned-face space. No network needed."""

from __future__ import annotations

import cv2
import numpy as np

from faceforge.core.geometry import transform_points
from faceforge.core.landmarks import LEFT_BROW, LEFT_EYE, RIGHT_BROW, RIGHT_EYE

MASK_TYPES = ("components", "extended")

# Convex parts whose union covers the face from the brows to the chin. A single hull would
# fill the hollow between a turned face's nose and far cheek; parts keep that outline honest.
_PARTS = (
    list(range(0, 9)) + list(range(17, 22)),  # right jaw half + right brow
    list(range(8, 17)) + list(range(22, 27)),  # left jaw half + left brow
    list(range(6, 11)) + list(range(27, 36)) + [21, 22, 39, 42],  # chin, nose, between eyes
    list(range(2, 15)) + list(range(48, 60)),  # lower face + mouth
    list(range(17, 27)) + [27],  # brows + nose bridge
)


def extend_brows(landmarks_68: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Landmarks with the brows pushed up, away from the eyes, to take in the forehead.

    Each brow moves as a whole by `amount` times the vector from its eye's centre to the
    brow's centre: that follows the head's tilt without spreading past the temples.
    """
    points = np.asarray(landmarks_68, dtype=np.float64).copy()
    for brow, eye in ((RIGHT_BROW, RIGHT_EYE), (LEFT_BROW, LEFT_EYE)):
        idx = list(brow)
        points[idx] += (points[idx].mean(axis=0) - points[list(eye)].mean(axis=0)) * amount
    return points


def landmark_mask(
    landmarks_68: np.ndarray,
    matrix_2x3: np.ndarray,
    size: int,
    mask_type: str = "extended",
) -> np.ndarray:
    """A size x size uint8 mask (0 or 255) of the face, drawn in the space of `matrix_2x3`.

    `matrix_2x3` maps frame pixels to the mask's pixels (an aligned face matrix).
    """
    if mask_type not in MASK_TYPES:
        raise ValueError(f"unknown mask {mask_type!r}; choose from {MASK_TYPES}")
    points = np.asarray(landmarks_68, dtype=np.float64)
    if mask_type == "extended":
        points = extend_brows(points)
    points = transform_points(points, matrix_2x3)
    mask = np.zeros((size, size), dtype=np.uint8)
    # Draw at 4x sub-pixel precision so small masks still have faithful edges.
    shift = 2
    for part in _PARTS:
        hull = cv2.convexHull(np.round(points[part] * (1 << shift)).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_8, shift=shift)
    return mask


def region_masks(
    landmarks_68: np.ndarray, matrix_2x3: np.ndarray, size: int, dilate_frac: float = 0.04
) -> dict[str, np.ndarray]:
    """Eye and mouth region masks (uint8 0/255), for weighting the training loss there.

    Each region is the convex hull of its landmarks, grown by `dilate_frac` of the image size
    so the lids and lips' edges count too.
    """
    points = transform_points(np.asarray(landmarks_68, dtype=np.float64), matrix_2x3)
    grow = max(1, int(round(size * dilate_frac)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    out = {}
    for name, parts in (("eyes", (RIGHT_EYE, LEFT_EYE)), ("mouth", (range(48, 60),))):
        mask = np.zeros((size, size), dtype=np.uint8)
        for part in parts:
            hull = cv2.convexHull(np.round(points[list(part)] * 4).astype(np.int32))
            cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_8, shift=2)
        out[name] = cv2.dilate(mask, kernel)
    return out
