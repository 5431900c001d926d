"""Small helpers several test modules share."""

from __future__ import annotations

import cv2
import numpy as np


def mask_in_frame(mask: np.ndarray, frame_to_face: np.ndarray,
                  frame_shape: tuple[int, ...]) -> np.ndarray:
    """A face-space mask (uint8 or float) warped into a whole frame, float32, 0 outside: where
    compositing may change pixels."""
    values = mask.astype(np.float32) / (255.0 if mask.dtype == np.uint8 else 1.0)
    height, width = frame_shape[:2]
    return cv2.warpAffine(values, np.asarray(frame_to_face, np.float64), (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
