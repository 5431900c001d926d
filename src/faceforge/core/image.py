"""Image operations on numpy arrays: aligned-face warps and detector-input normalisation."""

from __future__ import annotations

import cv2
import numpy as np

from faceforge.core.geometry import matrix_scale

NORMALIZATIONS = ("none", "clahe", "hist", "mean")


def grey(image_rgb: np.ndarray) -> np.ndarray:
    """The luminance of an RGB image (a single-channel image is returned as it is)."""
    image = np.asarray(image_rgb)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return image


def warp_face(frame: np.ndarray, matrix_2x3: np.ndarray, size: int) -> np.ndarray:
    """Cut an aligned face of size x size out of a frame with a frame→face matrix.

    Shrinking uses area interpolation (no aliasing); enlarging uses cubic.
    """
    interpolation = cv2.INTER_AREA if matrix_scale(matrix_2x3) < 1.0 else cv2.INTER_CUBIC
    return cv2.warpAffine(
        frame,
        np.asarray(matrix_2x3, dtype=np.float64),
        (size, size),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def normalize(image_rgb: np.ndarray, method: str) -> np.ndarray:
    """Normalise lighting of an RGB uint8 image for a detector's input only.

    clahe: contrast-limited adaptive histogram equalisation of lightness; hist: global
    histogram equalisation of lightness; mean: stretch each channel to mean 128, std 64.
    """
    if method == "none":
        return image_rgb
    if method in ("clahe", "hist"):
        lab = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2LAB)
        if method == "clahe":
            lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(lab[..., 0])
        else:
            lab[..., 0] = cv2.equalizeHist(lab[..., 0])
        return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    if method == "mean":
        img = image_rgb.astype(np.float32)
        mean = img.mean(axis=(0, 1), keepdims=True)
        std = img.std(axis=(0, 1), keepdims=True) + 1e-6
        return np.clip((img - mean) / std * 64.0 + 128.0, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown normalization {method!r}; choose from {NORMALIZATIONS}")
