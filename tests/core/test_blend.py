"""Mask shaping, the face-into-frame composite and sharpening, on a real photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceforge.core.blend import (
    SHARPEN_METHODS,
    MaskBlendConfig,
    composite,
    crop_edge_fade,
    face_box_in_frame,
    process_mask,
    sharpen,
)
from faceforge.core.image import warp_face
from faceforge.errors import UsageError
from tests.helpers import mask_in_frame

SIZE = 128
RAW = MaskBlendConfig(blur_type=None, threshold=0, fade_crop_edge=False)


@pytest.fixture(scope="module")
def frame(data_dir):
    bgr = cv2.imread(str(data_dir / "photos" / "grace_hopper.jpg"))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _frame_to_face(centre=(265.0, 230.0), side=220.0, angle=8.0, size=SIZE):
    """frame→face matrix of a hand-placed face square (side px wide, turned by angle)."""
    matrix = cv2.getRotationMatrix2D(centre, angle, size / side)
    matrix[:, 2] += (size / 2 - centre[0], size / 2 - centre[1])
    return matrix


@pytest.fixture
def face_mask():
    """A binary face-shaped ellipse (uint8 0/255) in aligned-face space."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.ellipse(mask, (64, 70), (40, 50), 0, 0, 360, 255, -1)
    return mask


def _extent(mask):
    ys, xs = np.nonzero(mask > 0.5)
    return xs.min(), xs.max(), ys.min(), ys.max()


# ---- process_mask -------------------------------------------------------------------------


def test_raw_config_keeps_a_binary_mask(face_mask):
    out = process_mask(face_mask, RAW)
    assert out.dtype == np.float32 and out.shape == (SIZE, SIZE)
    np.testing.assert_array_equal(out, face_mask / 255.0)


def test_erosion_shrinks_and_negative_erosion_grows_the_mask(face_mask):
    area = (process_mask(face_mask, RAW) > 0.5).sum()
    eroded = process_mask(face_mask, MaskBlendConfig(**{**RAW.__dict__, "erosion": 20}))
    dilated = process_mask(face_mask, MaskBlendConfig(**{**RAW.__dict__, "erosion": -20}))
    assert (eroded > 0.5).sum() < area * 0.9
    assert (dilated > 0.5).sum() > area * 1.1
    assert not np.any((eroded > 0) & (face_mask == 0)), "erosion never adds pixels"
    assert not np.any((dilated == 0) & (face_mask > 0)), "dilation never removes pixels"


# Which bound of (x_min, x_max, y_min, y_max) each edge owns, and its outward direction.
_EDGES = {"left": (0, -1), "right": (1, 1), "top": (2, -1), "bottom": (3, 1)}


@pytest.mark.parametrize("edge", sorted(_EDGES))
@pytest.mark.parametrize("percent", [20.0, -20.0])
def test_per_edge_erosion_moves_only_that_edge(face_mask, edge, percent):
    config = MaskBlendConfig(**{**RAW.__dict__, f"erosion_{edge}": percent})
    before = np.array(_extent(process_mask(face_mask, RAW)))
    after = np.array(_extent(process_mask(face_mask, config)))
    index, outward = _EDGES[edge]
    moved = (after[index] - before[index]) * outward
    assert moved <= -5 if percent > 0 else moved >= 5, (before, after)
    others = np.delete(np.arange(4), index)
    np.testing.assert_array_equal(after[others], before[others])


@pytest.mark.parametrize("blur_type", ["gaussian", "normalized"])
def test_blur_softens_the_edge_but_not_the_inside(face_mask, blur_type):
    config = MaskBlendConfig(blur_type=blur_type, kernel_size=9, threshold=0, fade_crop_edge=False)
    out = process_mask(face_mask, config)
    ring = np.ones((3, 3))
    edge = (cv2.dilate(face_mask, ring) > 0) & (cv2.erode(face_mask, ring) == 0)
    assert np.all((out[edge] > 0) & (out[edge] < 1))
    inside = cv2.erode(face_mask, np.ones((25, 25))) > 0
    np.testing.assert_array_equal(out[inside], 1.0)
    outside = cv2.dilate(face_mask, np.ones((25, 25))) == 0
    np.testing.assert_array_equal(out[outside], 0.0)


def test_blur_kernel_scales_with_the_face_size(face_mask):
    config = MaskBlendConfig(blur_type="gaussian", kernel_size=9, threshold=0, fade_crop_edge=False)
    # Soft pixels ~ perimeter x band width; over the area that is size-free if the band scales.
    soft_share = lambda m: ((m > 0.02) & (m < 0.98)).sum() / (m > 0.5).sum()  # noqa: E731
    small = process_mask(face_mask, config)
    large = process_mask(face_mask, config, face_size=2 * SIZE)
    assert large.shape == (2 * SIZE, 2 * SIZE)
    assert soft_share(large) == pytest.approx(soft_share(small), rel=0.2)


def test_threshold_zeroes_small_values_and_fills_near_one(face_mask):
    config = MaskBlendConfig(blur_type="gaussian", kernel_size=9, threshold=10)
    out = process_mask(face_mask, config)
    assert not np.any((out > 0) & (out < 0.1))
    assert not np.any((out > 0.9) & (out < 1))
    assert (out == 0).any() and (out == 1).any() and ((out > 0) & (out < 1)).any()


def test_uint8_and_float_masks_give_the_same_result(face_mask):
    config = MaskBlendConfig(erosion=5)
    np.testing.assert_allclose(
        process_mask(face_mask, config), process_mask(face_mask / 255.0, config), atol=1e-6
    )
    assert process_mask(face_mask[..., None], config).shape == (SIZE, SIZE)


def test_crop_edge_fade_zeroes_the_border_of_a_full_mask():
    out = process_mask(np.full((SIZE, SIZE), 255, np.uint8))
    assert out[0].max() == out[-1].max() == out[:, 0].max() == out[:, -1].max() == 0
    assert out[SIZE // 2, SIZE // 2] == 1.0
    assert not crop_edge_fade(SIZE).flags.writeable


@pytest.mark.parametrize(
    "options",
    [
        {"blur_type": "box"},
        {"passes": 0},
        {"threshold": 60},
        {"erosion": 150},
        {"erosion_left": -101},
        {"kernel_size": -1},
    ],
)
def test_bad_mask_options_are_usage_errors(options):
    with pytest.raises(UsageError):
        MaskBlendConfig(**options)


def test_defaults_follow_faceswap_and_none_means_no_blur():
    config = MaskBlendConfig()
    assert (
        config.blur_type,
        config.kernel_size,
        config.passes,
        config.threshold,
        config.erosion,
    ) == ("normalized", 3, 4, 4.0, 0.0)
    assert MaskBlendConfig(blur_type="none").blur_type is None


# ---- composite ----------------------------------------------------------------------------


def test_composite_changes_only_inside_the_warped_mask(frame, face_mask):
    matrix = _frame_to_face()
    face = 1.0 - warp_face(frame, matrix, SIZE).astype(np.float32) / 255  # a very different face
    mask = process_mask(face_mask, MaskBlendConfig(erosion=-10))
    out, box = composite(frame, face, mask, matrix)
    warped = mask_in_frame(mask, matrix, frame.shape)
    untouched = warped == 0
    assert untouched.mean() > 0.8
    np.testing.assert_array_equal(out[untouched], frame[untouched])
    inside = warped > 0.5
    assert np.abs(out[inside].astype(int) - frame[inside]).mean() > 50
    # Nothing changed outside the reported box, and the box holds all of the mask.
    x0, y0, x1, y1 = box
    outside_box = np.ones(frame.shape[:2], bool)
    outside_box[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(out[outside_box], frame[outside_box])
    assert not warped[outside_box].any()


def test_composite_of_the_unchanged_face_reproduces_the_frame(frame, face_mask):
    matrix = _frame_to_face(side=110.0, size=256)  # the usual case: face enlarged into frame
    face = warp_face(frame, matrix, 256).astype(np.float32) / 255
    mask = process_mask(cv2.resize(face_mask, (256, 256)), MaskBlendConfig())
    out, _ = composite(frame, face, mask, matrix)
    assert np.abs(out.astype(int) - frame).max() <= 40
    assert np.abs(out.astype(int) - frame).mean() < 0.3


def test_composite_does_not_modify_its_inputs(frame, face_mask):
    matrix = _frame_to_face()
    face = np.zeros((SIZE, SIZE, 3), np.float32)
    mask = process_mask(face_mask)
    frame_before, mask_before = frame.copy(), mask.copy()
    composite(frame, face, mask, matrix)
    np.testing.assert_array_equal(frame, frame_before)
    np.testing.assert_array_equal(mask, mask_before)


def test_composite_clips_a_face_at_the_frame_border(frame, face_mask):
    matrix = _frame_to_face(centre=(20.0, 580.0))  # face mostly off the bottom-left corner
    face = np.ones((SIZE, SIZE, 3), np.float32)
    out, box = composite(frame, face, process_mask(face_mask), matrix)
    assert box is not None and box[0] == 0 and box[3] == frame.shape[0]
    assert (out != frame).any()


def test_composite_of_a_face_outside_the_frame_changes_nothing(frame, face_mask):
    matrix = _frame_to_face(centre=(-500.0, -500.0))
    out, box = composite(
        frame, np.ones((SIZE, SIZE, 3), np.float32), process_mask(face_mask), matrix
    )
    assert box is None and face_box_in_frame(matrix, SIZE, frame.shape) is None
    np.testing.assert_array_equal(out, frame)


def test_composite_with_an_empty_mask_changes_nothing(frame):
    out, box = composite(
        frame,
        np.ones((SIZE, SIZE, 3), np.float32),
        np.zeros((SIZE, SIZE), np.float32),
        _frame_to_face(),
    )
    assert box is None
    np.testing.assert_array_equal(out, frame)


# ---- restoring fine detail -------------------------------------------------------------------


def _laplacian_variance(image, where):
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F)[where].var())


def _small_face(frame, size=64):
    """The frame's own face predicted at `size` px (as a small model would), with its matrix."""
    matrix = _frame_to_face(size=size)
    return warp_face(frame, matrix, size).astype(np.float32) / 255, matrix


def test_detail_gives_an_upscaled_face_back_the_texture_of_the_original(frame, face_mask):
    face, matrix = _small_face(frame)
    mask = process_mask(cv2.resize(face_mask, (64, 64)), MaskBlendConfig())
    plain, _ = composite(frame, face, mask, matrix)
    restored, _ = composite(frame, face, mask, matrix, detail=1.0)
    inside = mask_in_frame(mask, matrix, frame.shape) > 0.99
    source = _laplacian_variance(frame, inside)
    assert _laplacian_variance(plain, inside) < 0.15 * source
    assert _laplacian_variance(restored, inside) > 0.5 * source
    # It is the original's texture, in the right place: the result moved towards the frame.
    error = lambda image: np.abs(image[inside].astype(int) - frame[inside]).mean()  # noqa: E731
    assert error(restored) < 0.8 * error(plain)
    # Luminance only: every channel moved by the same amount (up to two roundings and clipping).
    unclipped = inside & (plain.min(axis=2) > 40) & (plain.max(axis=2) < 215)
    moved = restored[unclipped].astype(int) - plain[unclipped]
    spread = moved.max(axis=1) - moved.min(axis=1)
    assert unclipped.sum() > 0.25 * inside.sum() and np.mean(spread <= 2) > 0.97


def test_detail_changes_nothing_outside_the_mask(frame, face_mask):
    face, matrix = _small_face(frame)
    mask = process_mask(cv2.resize(face_mask, (64, 64)), MaskBlendConfig(erosion=-10))
    restored, box = composite(frame, face * 0.8, mask, matrix, detail=1.0)
    untouched = mask_in_frame(mask, matrix, frame.shape) == 0
    np.testing.assert_array_equal(restored[untouched], frame[untouched])
    assert box is not None


def test_a_face_that_has_its_detail_gets_none_added(frame, face_mask):
    # Drawn at the frame's own resolution (upscale 1.1): nothing is missing.
    matrix = _frame_to_face(size=200)
    face = warp_face(frame, matrix, 200).astype(np.float32) / 255
    mask = process_mask(cv2.resize(face_mask, (200, 200)), MaskBlendConfig())
    plain, _ = composite(frame, face, mask, matrix)
    restored, _ = composite(frame, face, mask, matrix, detail=1.0)
    assert np.abs(restored.astype(int) - plain).mean() < 0.3
    # Shown smaller than drawn (downscaled): the pass is skipped altogether.
    matrix = _frame_to_face(side=110.0, size=256)
    face = warp_face(frame, matrix, 256).astype(np.float32) / 255
    mask = process_mask(cv2.resize(face_mask, (256, 256)), MaskBlendConfig())
    np.testing.assert_array_equal(composite(frame, face, mask, matrix, detail=1.0)[0],
                                  composite(frame, face, mask, matrix)[0])


def test_detail_is_not_moved_onto_a_face_that_differs_there(frame, face_mask):
    # Another face (the inverted original, blurred as a small model would draw it): the
    # original's texture belongs to features this face does not have, so less than half as
    # much is moved.
    face, matrix = _small_face(frame)
    other = 1.0 - face
    mask = process_mask(cv2.resize(face_mask, (64, 64)), MaskBlendConfig())
    plain, _ = composite(frame, other, mask, matrix)
    restored, _ = composite(frame, other, mask, matrix, detail=1.0)
    inside = mask_in_frame(mask, matrix, frame.shape) > 0.99
    same, _ = composite(frame, face, mask, matrix)
    moved_here = np.abs(restored[inside].astype(int) - plain[inside]).mean()
    moved_on_same = np.abs(composite(frame, face, mask, matrix, detail=1.0)[0][inside].astype(int)
                           - same[inside]).mean()
    assert moved_here < 0.5 * moved_on_same


# ---- sharpen ------------------------------------------------------------------------------


def _high_frequency(image):
    return np.abs(cv2.Laplacian(image.astype(np.float32), cv2.CV_32F)).mean()


@pytest.fixture(scope="module")
def face_crop(frame):
    return frame[120:340, 155:375]


@pytest.mark.parametrize("method", [m for m in SHARPEN_METHODS if m != "none"])
def test_sharpen_methods_add_high_frequencies(face_crop, method):
    as_float = face_crop.astype(np.float32) / 255
    out = sharpen(as_float, method, radius=1.0, threshold=2.0)
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert _high_frequency(out) > 1.15 * _high_frequency(as_float)
    as_uint8 = sharpen(face_crop, method, radius=1.0, threshold=2.0)
    assert as_uint8.dtype == np.uint8 and _high_frequency(as_uint8) > _high_frequency(face_crop)


def test_sharpen_none_is_identity(face_crop):
    np.testing.assert_array_equal(sharpen(face_crop, "none"), face_crop)


def test_unsharp_mask_threshold_spares_smooth_areas(face_crop):
    gentle = sharpen(face_crop, "unsharp_mask", radius=1.0, threshold=1.0)
    strict = sharpen(face_crop, "unsharp_mask", radius=1.0, threshold=10.0)
    assert (strict != face_crop).sum() < (gentle != face_crop).sum()


def test_unknown_sharpen_method_is_a_usage_error(face_crop):
    with pytest.raises(UsageError) as info:
        sharpen(face_crop, "laplace")
    assert "unsharp_mask" in info.value.one_line()
