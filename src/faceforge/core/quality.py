"""What a swap keeps and what it loses, measured on faces: pure maths shared by `faceforge
report` (source frame vs converted frame) and the training curves (A faces vs their A→B swaps).

Landmark measures are divided by the face's size (pixels per unit of the aligned mean face),
so a face filmed nearer or farther scores the same. Image measures take a region (a uint8 or
bool mask of the pixels to count) so a source and its output are compared on the same pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from faceforge.core import geometry
from faceforge.core.blend import MaskBlendConfig, process_mask
from faceforge.core.image import grey
from faceforge.core.masks import landmark_mask

# Upper/lower lid pairs of each eye and upper/lower inner-lip pairs (iBUG 68).
_EYE_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))
_MOUTH_PAIRS = ((61, 67), (62, 66), (63, 65))


# Points that expressions barely move: the nose and the eyes' corners.
_RIGID_POINTS = np.array([27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])


def face_size(landmarks_68: np.ndarray) -> float:
    """The face's size in its image: pixels per unit of the aligned mean face (about the
    width from cheek to cheek), fitted to the nose and eye corners only, so that it follows
    the distance to the camera and not the expression."""
    points = np.asarray(landmarks_68, np.float64)[_RIGID_POINTS]
    to_mean = geometry.umeyama(points, geometry.mean_face()[_RIGID_POINTS - 17])
    return 1.0 / geometry.matrix_scale(to_mean[:2])


def _opening(landmarks_68: np.ndarray, pairs: Sequence[tuple[int, int]]) -> float:
    points = np.asarray(landmarks_68, np.float64)
    gaps = [np.linalg.norm(points[top] - points[bottom]) for top, bottom in pairs]
    return float(np.mean(gaps) / face_size(points))


def mouth_opening(landmarks_68: np.ndarray) -> float:
    """Gap between the inner lips, in face sizes: 0 for a closed mouth."""
    return _opening(landmarks_68, _MOUTH_PAIRS)


def eye_opening(landmarks_68: np.ndarray) -> float:
    """Mean gap between the upper and lower lids of both eyes, in face sizes."""
    return _opening(landmarks_68, _EYE_PAIRS)


def laplacian_variance(image_rgb: np.ndarray, region: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image inside `region`: the usual focus measure,
    high for fine detail, low for a blurred face."""
    laplacian = cv2.Laplacian(grey(image_rgb), cv2.CV_64F)
    inside = laplacian[np.asarray(region) > 0]
    return float(inside.var()) if inside.size else 0.0


def gradient_energy(image_rgb: np.ndarray, region: np.ndarray) -> float:
    """Mean squared gradient (Sobel, grey levels per pixel) inside `region`: how much edge
    there is; a seam adds edges along the blend mask's border."""
    luma = grey(image_rgb).astype(np.float32)
    dx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3)
    energy = (dx * dx + dy * dy)[np.asarray(region) > 0]
    return float(energy.mean()) if energy.size else 0.0


def mean_colour(image_rgb: np.ndarray, region: np.ndarray) -> np.ndarray:
    """(3,) mean RGB levels inside `region`."""
    inside = np.asarray(image_rgb)[np.asarray(region) > 0]
    return inside.reshape(-1, 3).astype(np.float64).mean(axis=0) if inside.size else \
        np.full(3, np.nan)


def correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of two series over the entries where both are finite; NaN when
    fewer than 3 remain or either does not vary."""
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 3 or a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def face_region(landmarks_68: np.ndarray, frame_shape: tuple[int, ...]) -> np.ndarray:
    """uint8 mask (0/255) of the face in its frame: the `extended` landmark mask, brows to
    chin and forehead, drawn in frame pixels."""
    height, width = frame_shape[:2]
    mask = np.zeros((height, width), np.uint8)
    side = max(height, width)
    full = landmark_mask(landmarks_68, np.array([[1.0, 0, 0], [0, 1.0, 0]]), side, "extended")
    mask[:] = full[:height, :width]
    return mask


def blend_mask_in_frame(landmarks_68: np.ndarray, frame_shape: tuple[int, ...],
                        centering: str, coverage: float, mask_type: str = "extended",
                        size: int = 128, blend: MaskBlendConfig | None = None) -> np.ndarray:
    """float32 (H, W) mask in [0, 1]: where convert blends the new face in, with its default
    processing (blur, crop-edge fade, threshold), for a model of `centering` and `coverage`."""
    legacy = geometry.legacy_matrix(np.asarray(landmarks_68, np.float64))
    to_face = geometry.aligned_matrix(legacy, size, centering, coverage)
    mask = process_mask(landmark_mask(landmarks_68, to_face, size, mask_type), blend, size)
    height, width = frame_shape[:2]
    return cv2.warpAffine(mask, to_face, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def border_ring(mask: np.ndarray, width_px: float) -> np.ndarray:
    """uint8 mask (0/255) of the band along a soft mask's border: where it is neither 0 nor 1,
    plus `width_px` pixels on each side of its half-way line. Where a seam would show."""
    mask = np.asarray(mask, np.float32)
    inside = (mask >= 0.5).astype(np.uint8)
    reach = max(1, int(round(width_px)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    band = cv2.dilate(inside, kernel) - cv2.erode(inside, kernel)
    band |= ((mask > 0.02) & (mask < 0.98)).astype(np.uint8)
    return band * np.uint8(255)


def pair_by_position(centres_a: Sequence[np.ndarray], centres_b: Sequence[np.ndarray],
                     sizes_a: Sequence[float], reach: float = 0.5) -> list[tuple[int, int]]:
    """Pairs (i, j) of faces of two frames that are the same face: each face of `a` with the
    nearest unpaired face of `b` whose centre lies within `reach` face sizes of it, nearest
    pairs first."""
    candidates = []
    for i, (centre, size) in enumerate(zip(centres_a, sizes_a, strict=True)):
        for j, other in enumerate(centres_b):
            distance = float(np.linalg.norm(np.asarray(centre) - np.asarray(other)))
            if distance <= reach * size:
                candidates.append((distance, i, j))
    pairs, used_a, used_b = [], set(), set()
    for _, i, j in sorted(candidates):
        if i not in used_a and j not in used_b:
            pairs.append((i, j))
            used_a.add(i)
            used_b.add(j)
    return sorted(pairs)
