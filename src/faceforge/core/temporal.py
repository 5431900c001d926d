"""Landmarks over time: smoothing a face's track and measuring its jitter.

A track is one face followed through consecutive frames: an (T, 68, 2) array of frame-pixel
landmarks. Detection noise makes them shake from frame to frame even when the face is still;
a converted video shows that shake as a trembling swapped face.
"""

from __future__ import annotations

import numpy as np


def smooth_track(track: np.ndarray, sigma: float) -> np.ndarray:
    """The track smoothed over time by a Gaussian-weighted local linear fit (`sigma` in frames).

    Inside the track this is the plain Gaussian average; near its ends the linear term keeps a
    face that is moving from being pulled back towards where it was (a plain average would
    lag there). Frames farther than 3 sigma do not count. sigma 0 returns the track unchanged.
    """
    track = np.asarray(track, dtype=np.float64)
    count = len(track)
    if sigma <= 0 or count < 3:
        return track.copy()
    reach = max(1, int(np.ceil(3 * sigma)))
    out = np.empty_like(track)
    for t in range(count):
        first, last = max(0, t - reach), min(count, t + reach + 1)
        offsets = np.arange(first, last) - t
        weights = np.exp(-0.5 * (offsets / sigma) ** 2)
        s0, s1, s2 = weights.sum(), (weights * offsets).sum(), (weights * offsets**2).sum()
        window = track[first:last]
        m0 = np.tensordot(weights, window, axes=1)
        m1 = np.tensordot(weights * offsets, window, axes=1)
        det = s0 * s2 - s1 * s1
        out[t] = (s2 * m0 - s1 * m1) / det if det > 1e-12 else m0 / s0
    return out


def jitter(track: np.ndarray) -> dict[str, float]:
    """Frame-to-frame landmark motion of one track, in frame pixels (means over points and
    frames): `motion_px` the first difference (all movement), `jitter_px` the second
    difference (the shake: zero for a face moving steadily)."""
    track = np.asarray(track, dtype=np.float64)
    out = {"motion_px": float("nan"), "jitter_px": float("nan")}
    if len(track) >= 2:
        out["motion_px"] = float(np.linalg.norm(np.diff(track, axis=0), axis=-1).mean())
    if len(track) >= 3:
        out["jitter_px"] = float(np.linalg.norm(np.diff(track, 2, axis=0), axis=-1).mean())
    return out
