"""The iBUG 68-point landmark layout: named regions and the left/right mirror permutation."""

from __future__ import annotations

import numpy as np

# Index ranges of the 68-point layout (end exclusive). "right"/"left" are the subject's own.
JAW = range(0, 17)
RIGHT_BROW = range(17, 22)
LEFT_BROW = range(22, 27)
NOSE_BRIDGE = range(27, 31)
NOSE_BASE = range(31, 36)
RIGHT_EYE = range(36, 42)
LEFT_EYE = range(42, 48)
MOUTH_OUTER = range(48, 60)
MOUTH_INNER = range(60, 68)
MOUTH = range(48, 68)

#: the points used for alignment: everything but the jaw line, which moves with the mouth
ALIGN_POINTS = np.arange(17, 68)

OUTER_EYE_CORNERS = (36, 45)


def _mirror_permutation() -> np.ndarray:
    perm = np.arange(68)
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # nose base
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


#: MIRROR[i] is the index of the point that lands on point i when a face is flipped left-right
MIRROR = _mirror_permutation()


def inter_ocular_distance(landmarks_68: np.ndarray) -> float:
    """Distance between the outer eye corners, the usual normaliser for landmark error."""
    a, b = OUTER_EYE_CORNERS
    return float(np.linalg.norm(landmarks_68[a] - landmarks_68[b]))


def normalised_mean_error(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean point-to-point error divided by the true inter-ocular distance."""
    err = np.linalg.norm(np.asarray(predicted, float) - np.asarray(truth, float), axis=1).mean()
    return float(err / inter_ocular_distance(np.asarray(truth, float)))
