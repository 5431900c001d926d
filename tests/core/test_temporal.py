"""Smoothing landmark tracks over time: the shake goes, steady motion stays."""

from __future__ import annotations

import numpy as np

from faceforge.core.temporal import jitter, smooth_track


def _face(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(100, 300, (68, 2))


def test_a_still_face_with_detection_noise_shakes_much_less():
    rng = np.random.default_rng(1)
    still = np.repeat(_face(rng)[None], 90, axis=0)
    noisy = still + rng.normal(0, 1.0, still.shape)
    smoothed = smooth_track(noisy, 2.0)
    assert jitter(smoothed)["jitter_px"] < jitter(noisy)["jitter_px"] / 5
    # Closer to the truth than the raw detections were.
    assert np.abs(smoothed - still).mean() < np.abs(noisy - still).mean() / 2


def test_steady_motion_is_kept_exactly_even_at_the_ends_of_the_track():
    rng = np.random.default_rng(2)
    start = _face(rng)
    steps = np.arange(30, dtype=np.float64)[:, None, None]
    moving = start[None] + steps * np.array([1.5, -0.5])  # px per frame
    np.testing.assert_allclose(smooth_track(moving, 3.0), moving, atol=1e-9)


def test_short_tracks_and_sigma_zero_are_left_alone():
    rng = np.random.default_rng(3)
    pair = rng.normal(size=(2, 68, 2))
    np.testing.assert_array_equal(smooth_track(pair, 2.0), pair)
    track = rng.normal(size=(10, 68, 2))
    np.testing.assert_array_equal(smooth_track(track, 0.0), track)
