"""Colour adjustment modes on a real face crop: each makes `new` resemble `old` as promised."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceforge.core.color import COLOR_MODES, adjust_color, seamless_clone
from faceforge.errors import UsageError

SIZE = 96


@pytest.fixture(scope="module")
def faces(data_dir):
    """(old, new, mask): a real face, the same face with a strong colour cast, an ellipse."""
    bgr = cv2.imread(str(data_dir / "photos" / "grace_hopper.jpg"))
    crop = cv2.cvtColor(bgr[120:340, 155:375], cv2.COLOR_BGR2RGB)  # hand-picked face square
    old = cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    # A differently lit, lower-contrast, colour-cast face: what a model trained on B returns.
    new = np.clip((old - 0.5) * 0.7 + 0.5 + np.float32([0.08, -0.03, -0.1]), 0, 1)
    new = new.astype(np.float32)
    mask = np.zeros((SIZE, SIZE), np.float32)
    cv2.ellipse(mask, (SIZE // 2, SIZE // 2 + 4), (30, 40), 0, 0, 360, 1.0, -1)
    return old, new, mask


def _masked(image, mask):
    return image[mask > 0.5]


@pytest.mark.parametrize("mode", sorted(COLOR_MODES))
def test_every_mode_returns_a_float_face_in_range_and_keeps_inputs(faces, mode):
    old, new, mask = faces
    before = new.copy()
    out = adjust_color(mode, new, old, mask)
    assert out.dtype == np.float32 and out.shape == new.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(new, before)


@pytest.mark.parametrize("mode", sorted(COLOR_MODES))
def test_every_mode_survives_an_empty_mask(faces, mode):
    old, new, _ = faces
    out = adjust_color(mode, new, old, np.zeros(new.shape[:2], np.float32))
    np.testing.assert_allclose(out, new, atol=1e-6)


def test_avg_color_matches_the_mean_colour_inside_the_mask(faces):
    old, new, mask = faces
    out = adjust_color("avg-color", new, old, mask)
    weights = mask[..., None]
    mean = lambda image: (image * weights).sum((0, 1)) / weights.sum()  # noqa: E731
    np.testing.assert_allclose(mean(out), mean(old), atol=1e-3)
    assert np.abs(mean(new) - mean(old)).max() > 0.05  # the cast was real


def test_color_transfer_matches_lab_mean_and_std_inside_the_mask(faces):
    old, new, mask = faces
    out = adjust_color("color-transfer", new, old, mask)
    old_lab = _masked(cv2.cvtColor(old, cv2.COLOR_RGB2LAB), mask)
    out_lab = _masked(cv2.cvtColor(out, cv2.COLOR_RGB2LAB), mask)
    new_lab = _masked(cv2.cvtColor(new, cv2.COLOR_RGB2LAB), mask)
    np.testing.assert_allclose(out_lab.mean(0), old_lab.mean(0), atol=0.5)
    np.testing.assert_allclose(out_lab.std(0), old_lab.std(0), rtol=0.05)
    assert np.abs(new_lab.std(0) - old_lab.std(0)).max() > 2  # the contrast really differed


def test_color_transfer_reciprocal_factor_moves_std_the_other_way(faces):
    old, new, mask = faces
    paper = adjust_color("color-transfer", new, old, mask, preserve_paper=True)
    reciprocal = adjust_color("color-transfer", new, old, mask, preserve_paper=False)
    lightness_std = lambda img: _masked(cv2.cvtColor(img, cv2.COLOR_RGB2LAB), mask)[:, 0].std()  # noqa: E731
    assert lightness_std(reciprocal) < lightness_std(new) < lightness_std(paper)


def test_color_transfer_without_clip_rescales_into_range(faces):
    old, new, mask = faces
    out = adjust_color("color-transfer", new, old, mask, clip=False)
    assert out.min() >= 0.0 and out.max() <= 1.0


def _cdf_distance(a, b):
    """Largest gap between two empirical CDFs (Kolmogorov-Smirnov statistic)."""
    grid = np.linspace(0, 1, 257)
    cdf = lambda values: np.searchsorted(np.sort(values), grid, side="right") / values.size  # noqa: E731
    return np.abs(cdf(a) - cdf(b)).max()


def test_match_hist_makes_channel_histograms_follow_the_original(faces):
    old, new, mask = faces
    out = adjust_color("match-hist", new, old, mask, threshold=100)
    for channel in range(3):
        before = _cdf_distance(_masked(new, mask)[:, channel], _masked(old, mask)[:, channel])
        after = _cdf_distance(_masked(out, mask)[:, channel], _masked(old, mask)[:, channel])
        assert after < 0.03 < before


def test_match_hist_threshold_cuts_the_brightest_values(faces):
    old, new, mask = faces
    full = adjust_color("match-hist", new, old, mask, threshold=100)
    cut = adjust_color("match-hist", new, old, mask, threshold=90)
    assert _masked(cut, mask).max() < _masked(full, mask).max()
    with pytest.raises(UsageError):
        adjust_color("match-hist", new, old, mask, threshold=0)


@pytest.mark.parametrize("space", ["HSV", "LAB", "YCrCb", "RGB"])
def test_manual_balance_with_zeros_is_identity(faces, space):
    old, new, mask = faces
    np.testing.assert_array_equal(
        adjust_color("manual-balance", new, old, mask, colorspace=space), new
    )


def test_manual_balance_rgb_moves_only_the_chosen_channel(faces):
    old, new, mask = faces
    out = adjust_color("manual-balance", new, old, mask, colorspace="RGB", balance_1=40)
    assert out[..., 0].mean() > new[..., 0].mean() + 0.1
    np.testing.assert_allclose(out[..., 1:], new[..., 1:], atol=1e-6)
    darker = adjust_color("manual-balance", new, old, mask, colorspace="RGB", balance_3=-50)
    np.testing.assert_allclose(darker[..., 2], new[..., 2] * 0.5, atol=1e-6)


def test_manual_balance_hsv_saturation_and_brightness(faces):
    old, new, mask = faces
    hsv = lambda img: cv2.cvtColor(img, cv2.COLOR_RGB2HSV)  # noqa: E731
    saturated = adjust_color("manual-balance", new, old, mask, colorspace="HSV", balance_2=50)
    assert hsv(saturated)[..., 1].mean() > hsv(new)[..., 1].mean() + 0.1
    np.testing.assert_allclose(hsv(saturated)[..., 2], hsv(new)[..., 2], atol=2e-3)
    brighter = adjust_color("manual-balance", new, old, mask, brightness=30)
    assert brighter.mean() > new.mean() + 0.1
    flatter = adjust_color("manual-balance", new, old, mask, contrast=-50)
    assert flatter.std() < new.std() * 0.7


def test_manual_balance_rejects_unknown_colorspace(faces):
    old, new, mask = faces
    with pytest.raises(UsageError, match="colorspace"):
        adjust_color("manual-balance", new, old, mask, colorspace="XYZ")


def test_none_is_identity(faces):
    old, new, mask = faces
    np.testing.assert_array_equal(adjust_color("none", new, old, mask), new)


def test_seamless_clone_leaves_outside_the_mask_as_the_original(faces):
    old, new, mask = faces
    out = seamless_clone(new, old, mask)
    outside = mask == 0
    np.testing.assert_array_equal(out[outside], old[outside])
    # Inside, the boundary colours are pulled towards the original face's.
    ring = (
        (cv2.dilate((mask > 0).astype(np.uint8), np.ones((3, 3))) > 0)
        & (cv2.erode((mask > 0).astype(np.uint8), np.ones((7, 7))) == 0)
        & (mask > 0)
    )
    assert np.abs(out[ring] - old[ring]).mean() < 0.5 * np.abs(new[ring] - old[ring]).mean()


def test_seamless_clone_handles_a_mask_touching_the_crop_edge(faces):
    old, new, _ = faces
    full = np.ones(new.shape[:2], np.float32)
    out = seamless_clone(new, old, full)
    assert out.shape == new.shape and np.isfinite(out).all()


def test_unknown_mode_or_option_is_a_usage_error_listing_modes(faces):
    old, new, mask = faces
    with pytest.raises(UsageError) as info:
        adjust_color("avg-colour", new, old, mask)
    assert "avg-color" in info.value.one_line() and "match-hist" in info.value.one_line()
    with pytest.raises(UsageError, match="strength"):
        adjust_color("avg-color", new, old, mask, strength=2)
