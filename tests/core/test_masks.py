"""Landmark masks and image helpers on synthetic and real faces."""

import numpy as np
import pytest

from faceforge.core import geometry as g
from faceforge.core.image import normalize, warp_face
from faceforge.core.masks import MASK_TYPES, extend_brows, landmark_mask
from tests.core.test_geometry import _face_in_frame


@pytest.fixture
def face():
    landmarks, _ = _face_in_frame(scale=200, angle=-8, tx=150, ty=120)
    return landmarks, g.aligned_matrix(g.legacy_matrix(landmarks), 128, "head")


@pytest.mark.parametrize("mask_type", MASK_TYPES)
def test_mask_covers_the_face_and_not_the_corners(face, mask_type):
    landmarks, matrix = face
    mask = landmark_mask(landmarks, matrix, 128, mask_type)
    assert mask.dtype == np.uint8 and mask.shape == (128, 128)
    assert set(np.unique(mask)) <= {0, 255}
    for idx in (30, 33, 51, 8, 36, 45):  # nose, mouth, chin, eye corners are inside
        x, y = np.round(g.transform_points(landmarks[idx : idx + 1], matrix)[0]).astype(int)
        assert mask[min(y, 127), min(x, 127)] == 255, f"landmark {idx} outside {mask_type}"
    assert mask[0, 0] == mask[0, -1] == mask[-1, 0] == mask[-1, -1] == 0
    assert 0.1 < (mask > 0).mean() < 0.6


def test_extended_mask_contains_components_and_reaches_higher(face):
    landmarks, matrix = face
    masks = {name: landmark_mask(landmarks, matrix, 128, name) for name in MASK_TYPES}
    comp, ext = masks["components"] > 0, masks["extended"] > 0
    assert not np.any(comp & ~ext), "extended is a superset"
    top = lambda m: np.argmax(m.any(axis=1))  # noqa: E731
    assert top(ext) < top(comp) - 3


def test_extend_brows_moves_only_brows_upwards(face):
    landmarks, _ = face
    moved = extend_brows(landmarks)
    np.testing.assert_array_equal(moved[:17], landmarks[:17])
    np.testing.assert_array_equal(moved[27:], landmarks[27:])
    legacy = g.legacy_matrix(landmarks)
    # In face space (upright), the brows moved up (smaller y).
    assert np.all(g.transform_points(moved[17:27], legacy)[:, 1]
                  < g.transform_points(landmarks[17:27], legacy)[:, 1])


def test_unknown_mask_type_is_refused(face):
    with pytest.raises(ValueError):
        landmark_mask(face[0], face[1], 64, "predicted")


def test_warp_face_puts_landmarks_where_the_matrix_says():
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[140:160, 190:210] = 255  # a bright square centred at (200, 150)
    matrix = np.array([[0.5, 0, -50.0], [0, 0.5, -25.0]])  # (200,150) -> (50, 50)
    out = warp_face(frame, matrix, 100)
    ys, xs = np.nonzero(out[..., 0] > 128)
    assert abs(xs.mean() - 50) < 1 and abs(ys.mean() - 50) < 1


@pytest.mark.parametrize("method", ["none", "clahe", "hist", "mean"])
def test_normalize_keeps_shape_and_dtype(method):
    img = np.random.default_rng(0).integers(0, 120, (40, 60, 3), dtype=np.uint8)
    out = normalize(img, method)
    assert out.shape == img.shape and out.dtype == np.uint8
    if method != "none":
        assert out.std() >= img.std() * 0.9


def test_region_masks_cover_eyes_and_mouth_only(face):
    from faceforge.core.masks import region_masks

    landmarks, matrix = face
    regions = region_masks(landmarks, matrix, 128)
    pts = np.round(g.transform_points(landmarks, matrix)).astype(int)
    for idx in (36, 39, 42, 45):
        assert regions["eyes"][pts[idx, 1], pts[idx, 0]] == 255
        assert regions["mouth"][pts[idx, 1], pts[idx, 0]] == 0
    for idx in (48, 51, 54, 57):
        assert regions["mouth"][pts[idx, 1], pts[idx, 0]] == 255
    assert regions["eyes"][pts[30, 1], pts[30, 0]] == 0  # not the nose tip
