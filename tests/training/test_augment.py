"""Behaviour of the batched training augmentation in faceforge.training.augment."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from faceforge.training.augment import AugmentConfig, augment_batch, clahe, lab_to_rgb, rgb_to_lab

OFF = AugmentConfig(color=False, rotation_deg=0, zoom=0, shift=0, flip_chance=0, warp=False)


def _faces(n: int = 8, size: int = 64, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=gen) * 255).to(torch.uint8)


def _run(images, config, seed=1, size_in=64, size_out=64, **kwargs):
    gen = torch.Generator().manual_seed(seed)
    return augment_batch(images, config, gen, out_size_input=size_in, out_size_target=size_out,
                         **kwargs)


def _reference_lab(rgb: np.ndarray) -> np.ndarray:
    """Textbook sRGB -> L*a*b* (D65) in float64, pixel by pixel in ... x 3 layout."""
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                       [0.019334, 0.119193, 0.950227]])
    xyz = linear @ matrix.T / np.array([0.950456, 1.0, 1.088754])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    lightness = np.where(xyz[..., 1] > 0.008856, 116 * f[..., 1] - 16, 903.3 * xyz[..., 1])
    return np.stack([lightness, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
                    axis=-1)


def test_lab_matches_reference_and_cv2_and_round_trips() -> None:
    rgb = torch.rand(3, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    rgb[0, :, :4] = 0.0  # pure black and near-black exercise the linear toe
    rgb[0, :, 4:8] = 0.01
    lab = rgb_to_lab(rgb).permute(0, 2, 3, 1).numpy()
    pixels = rgb.permute(0, 2, 3, 1).numpy()
    assert np.abs(lab - _reference_lab(pixels.astype(np.float64))).max() < 1e-2
    # cv2's float path interpolates tables (its a*/b* come out in steps of 1/64 or so), so it
    # is only good to a few tenths of a unit itself.
    expected = np.stack([cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2Lab)
                         for img in pixels])
    error = np.abs(lab - expected)
    assert error.mean() < 0.1 and error.max() < 0.6
    back = lab_to_rgb(torch.from_numpy(lab).permute(0, 3, 1, 2))
    assert torch.allclose(back, rgb, atol=1e-4)
    cv2_back = np.stack([cv2.cvtColor(img, cv2.COLOR_Lab2RGB) for img in expected])
    assert np.abs(back.permute(0, 2, 3, 1).numpy() - cv2_back).max() < 1e-2


def test_clahe_is_close_to_cv2() -> None:
    gen = torch.Generator().manual_seed(0)
    light = torch.rand(2, 1, 64, 64, generator=gen) * 0.5 + torch.linspace(0, 0.4, 64)[:, None]
    ours = clahe(light, 4)[:, 0].numpy()
    u8 = (light[:, 0] * 255).round().to(torch.uint8).numpy()
    theirs = np.stack([cv2.createCLAHE(2.0, (4, 4)).apply(img) for img in u8]) / 255.0
    assert np.abs(ours - theirs).mean() < 0.03


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.bfloat16])
def test_shapes_dtypes_and_range(dtype) -> None:
    images = _faces()
    if dtype != torch.uint8:
        images = (images.float() / 255).to(dtype)
    masks = torch.rand(8, 2, 64, 64)
    out = _run(images, AugmentConfig(), size_in=64, size_out=128, masks=masks)
    expected_dtype = torch.float32 if dtype == torch.uint8 else dtype
    assert out.inputs.shape == (8, 3, 64, 64) and out.inputs.dtype == expected_dtype
    assert out.targets.shape == (8, 3, 128, 128) and out.targets.dtype == expected_dtype
    assert out.masks is not None and out.masks.shape == (8, 2, 128, 128)
    for batch in (out.inputs, out.targets, out.masks):
        assert float(batch.min()) >= 0.0 and float(batch.max()) <= 1.0
        assert torch.isfinite(batch.float()).all()


def test_same_seed_same_batch_other_seed_differs() -> None:
    images = _faces()
    first, again, other = (_run(images, AugmentConfig(), seed=s) for s in (5, 5, 6))
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert not torch.allclose(first.inputs, other.inputs)
    assert not torch.allclose(first.targets, other.targets)


def test_zero_strength_is_identity() -> None:
    images = _faces()
    out = _run(images, OFF)
    assert torch.allclose(out.targets, images.float() / 255, atol=1e-5)
    assert torch.allclose(out.inputs, images.float() / 255, atol=1e-5)


def test_flip_chance_one_mirrors_exactly() -> None:
    images = _faces()
    masks = torch.rand(8, 1, 64, 64)
    config = AugmentConfig(color=False, rotation_deg=0, zoom=0, shift=0, flip_chance=1.0,
                           warp=False)
    out = _run(images, config, masks=masks)
    assert bool(out.flipped.all())
    assert torch.allclose(out.targets, images.float().flip(-1) / 255, atol=1e-5)
    assert torch.allclose(out.masks, masks.flip(-1), atol=1e-5)


def test_masks_follow_the_target_geometry() -> None:
    # A bright square marked by the mask must stay under the mask however it is moved.
    images = torch.zeros(16, 3, 64, 64)
    images[:, :, 20:40, 24:44] = 1.0
    masks = images[:, :1].clone()
    config = AugmentConfig(color=False, rotation_deg=25, zoom=0.1, shift=0.1, flip_chance=0.5)
    out = _run(images, config, masks=masks)
    assert out.masks is not None
    bright = out.targets.mean(dim=1, keepdim=True)
    assert torch.allclose(bright, out.masks, atol=1e-5)
    assert not torch.allclose(out.targets, images)  # it did move


def test_warp_changes_input_but_not_target() -> None:
    images = _faces()
    warped = _run(images, AugmentConfig(color=False, warp=True))
    plain = _run(images, AugmentConfig(color=False, warp=False))
    assert torch.equal(warped.targets, plain.targets)
    assert torch.allclose(plain.inputs, plain.targets)
    assert not torch.allclose(warped.inputs, warped.targets, atol=1e-2)


def test_colour_shift_is_shared_by_input_and_target() -> None:
    images = _faces()
    out = _run(images, AugmentConfig(rotation_deg=0, zoom=0, shift=0, flip_chance=0, warp=False))
    assert torch.allclose(out.inputs, out.targets)
    assert not torch.allclose(out.targets, images.float() / 255, atol=1e-2)


def test_warp_to_landmarks_moves_landmarks_onto_the_partner_ones() -> None:
    # A coordinate ramp shows where each input pixel was sampled from in the source crop.
    size = 64
    ramp = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    images = torch.stack([ramp.expand(size, size), ramp[:, None].expand(size, size),
                          torch.zeros(size, size)])[None].repeat(2, 1, 1, 1)
    ys, xs = torch.meshgrid(torch.linspace(20, 44, 8), torch.linspace(20, 44, 9), indexing="ij")
    landmarks = torch.stack([xs, ys], -1).reshape(-1, 2)[:68][None].repeat(2, 1, 1)
    moved = landmarks + torch.tensor([3.0, -2.0])
    config = AugmentConfig(color=False, rotation_deg=0, zoom=0, shift=0, flip_chance=0,
                           warp_to_landmarks=True)
    out = _run(images, config, landmarks=landmarks, landmarks_dst=moved)
    assert torch.allclose(out.targets, images, atol=1e-5)
    cols, rows = moved[0, :, 0].round().long(), moved[0, :, 1].round().long()
    sampled = out.inputs[0, :2, rows, cols].T * size - 0.5  # source position, pixels
    expected = landmarks[0] + (torch.stack([cols, rows], -1) - moved[0])
    assert (sampled - expected).abs().mean() < 1.0  # noise std is 0.5 px at 64 px
    with pytest.raises(ValueError, match="landmarks"):
        _run(images, config)


def test_channels_last_input_gives_channels_last_output() -> None:
    images = _faces().contiguous(memory_format=torch.channels_last)
    out = _run(images, AugmentConfig())
    assert out.inputs.is_contiguous(memory_format=torch.channels_last)
