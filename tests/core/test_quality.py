"""The measures `report` and the training curves share: landmark openings, sharpness, seam
band, correlation and pairing faces by position."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from faceforge.core import geometry, quality


def _face(scale: float = 200.0, shift: float = 40.0, mouth: float = 0.0) -> np.ndarray:
    points = np.zeros((68, 2))
    points[:17] = np.linspace([0.0, 0.3], [1.0, 0.3], 17)  # a jaw, out of the way
    points[17:] = geometry.mean_face()
    points[[65, 66, 67]] += [0.0, mouth]  # lower inner lip down: the mouth opens
    return points * scale + shift


def test_openings_are_in_face_sizes_and_the_mouth_does_not_move_the_eyes():
    closed, opened = _face(), _face(mouth=0.05)
    assert quality.mouth_opening(opened) > quality.mouth_opening(closed) + 0.03
    assert quality.eye_opening(opened) == pytest.approx(quality.eye_opening(closed))
    far = _face(scale=80.0, shift=300.0, mouth=0.05)  # the same face, smaller and elsewhere
    assert quality.mouth_opening(far) == pytest.approx(quality.mouth_opening(opened))
    assert quality.face_size(far) == pytest.approx(0.4 * quality.face_size(opened))


def test_blur_lowers_the_sharpness_and_the_edge_energy():
    image = np.random.default_rng(0).integers(0, 255, (120, 120, 3), dtype=np.uint8)
    region = np.zeros((120, 120), np.uint8)
    region[20:100, 20:100] = 255
    blurred = cv2.GaussianBlur(image, (0, 0), 2.0)
    assert quality.laplacian_variance(blurred, region) < 0.1 * quality.laplacian_variance(
        image, region)
    assert quality.gradient_energy(blurred, region) < quality.gradient_energy(image, region)
    assert quality.laplacian_variance(image, np.zeros_like(region)) == 0.0


def test_the_border_ring_follows_the_soft_edge_of_a_mask():
    mask = np.zeros((200, 200), np.float32)
    cv2.circle(mask, (100, 100), 60, 1.0, -1)
    ring = quality.border_ring(cv2.GaussianBlur(mask, (0, 0), 2.0), 4) > 0
    ys, xs = np.nonzero(ring)
    radius = np.hypot(xs - 100, ys - 100)
    assert radius.min() > 48 and radius.max() < 72
    assert ring[100, 40] and not ring[100, 100] and not ring[5, 5]


def test_the_blend_mask_covers_the_face_and_not_the_frame_corners():
    mask = quality.blend_mask_in_frame(_face(), (300, 300), "face", 0.875)
    centre = _face()[30].astype(int)  # the nose tip
    assert mask[centre[1], centre[0]] == pytest.approx(1.0)
    assert mask[2, 2] == 0.0 and mask.dtype == np.float32


def test_correlation_needs_variation_and_skips_missing_values():
    assert quality.correlation([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert quality.correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(quality.correlation([1, 2, 3], [5, 5, 5]))
    assert quality.correlation([1, 2, math.nan, 3, 4], [1, 2, 9, 3, 4]) == pytest.approx(1.0)


def test_faces_pair_with_the_nearest_face_within_reach():
    sources = [np.array([100.0, 100.0]), np.array([400.0, 100.0])]
    outputs = [np.array([405.0, 98.0]), np.array([900.0, 900.0]), np.array([104.0, 103.0])]
    assert quality.pair_by_position(sources, outputs, [80.0, 80.0]) == [(0, 2), (1, 0)]
    assert quality.pair_by_position(sources, [np.array([300.0, 300.0])], [80.0, 80.0]) == []
