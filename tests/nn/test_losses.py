"""Behaviour of the training losses and the masked face loss in faceforge.nn.losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceforge.errors import UsageError
from faceforge.nn.losses import (
    LOSSES,
    LossConfig,
    face_loss,
    get_loss,
    learned_mask_loss,
    ssim_loss,
)


def _pair(seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    target = torch.rand(2, 3, size, size, generator=gen)
    pred = (target + 0.1 * torch.randn(2, 3, size, size, generator=gen)).clamp(0, 1)
    return pred, target


def _numpy_ssim(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Plain per-pixel SSIM of one 2-D channel: reflect padding, 11x11 gaussian, sigma 1.5."""
    coords = np.arange(11) - 5.0
    window = np.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * 1.5**2))
    window /= window.sum()
    xp, yp = np.pad(x, 5, mode="reflect"), np.pad(y, 5, mode="reflect")
    out = np.zeros_like(x)
    c1, c2 = 0.01**2, 0.03**2
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            a, b = xp[i:i + 11, j:j + 11], yp[i:i + 11, j:j + 11]
            mx, my = (window * a).sum(), (window * b).sum()
            vx = (window * a * a).sum() - mx * mx
            vy = (window * b * b).sum() - my * my
            cov = (window * a * b).sum() - mx * my
            out[i, j] = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1)
                                                                 * (vx + vy + c2))
    return out


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_is_zero_for_identical_images_and_has_gradients(name) -> None:
    pred, target = _pair()
    function = get_loss(name)
    assert float(function(target, target).abs().max()) < 1e-5
    pred = pred.clone().requires_grad_(True)
    value = function(pred, target).mean()
    assert float(value.detach()) > 0
    value.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_ssim_matches_a_plain_numpy_implementation() -> None:
    pred, target = _pair(size=20)
    ours = ssim_loss(pred, target)[0, 1].numpy()
    reference = 1.0 - _numpy_ssim(pred[0, 1].double().numpy(), target[0, 1].double().numpy())
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_mask_penalty_ignores_changes_outside_the_mask() -> None:
    pred, target = _pair()
    face = torch.zeros(2, 1, 32, 32)
    face[:, :, 8:24, 8:24] = 1.0
    changed = pred.clone()
    changed[:, :, :3] = 1.0 - changed[:, :, :3]  # only outside the face
    for names in (["ssim", "mse"], ["ms_ssim"], ["gmsd", "mae"], ["gradient"]):
        config = LossConfig(names=names, weights=[1.0] * len(names), eye_multiplier=1.0,
                            mouth_multiplier=1.0)
        # SSIM windows are 11 px wide, so keep the edit 5+ px away from the face for them
        before = face_loss(pred, target, config, face_mask=face)
        after = face_loss(changed, target, config, face_mask=face)
        assert torch.allclose(before, after, atol=1e-6), names
        unmasked = LossConfig(names=names, weights=[1.0] * len(names), mask_penalty=False)
        assert not torch.allclose(face_loss(pred, target, unmasked, face_mask=face),
                                  face_loss(changed, target, unmasked, face_mask=face))


def test_eye_and_mouth_errors_weigh_more() -> None:
    target = torch.full((1, 3, 32, 32), 0.5)
    face = torch.ones(1, 1, 32, 32)
    eye = torch.zeros(1, 1, 32, 32)
    eye[..., 8:12, 8:24] = 1
    mouth = torch.zeros(1, 1, 32, 32)
    mouth[..., 22:26, 8:24] = 1
    config = LossConfig(names=["mse"], weights=[1.0])

    def loss_for_error_at(rows: slice) -> float:
        pred = target.clone()
        pred[..., rows, 8:24] += 0.2
        return float(face_loss(pred, target, config, face_mask=face, eye_mask=eye,
                               mouth_mask=mouth))

    elsewhere = loss_for_error_at(slice(15, 19))
    # Faceswap semantics: a region pixel counts 1 + multiplier
    assert loss_for_error_at(slice(8, 12)) == pytest.approx(4.0 * elsewhere, rel=1e-5)
    assert loss_for_error_at(slice(22, 26)) == pytest.approx(3.0 * elsewhere, rel=1e-5)


def test_face_loss_default_config_gradients_and_bf16_autocast() -> None:
    pred, target = _pair()
    pred = pred.requires_grad_(True)
    masks = [torch.rand(2, 1, 32, 32) for _ in range(3)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = face_loss(pred.bfloat16(), target, LossConfig(), *masks)
    assert value.dtype == torch.float32 and value.ndim == 0
    value.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_unknown_loss_name_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as info:
        get_loss("vgg")
    assert "ssim" in info.value.one_line() and "mse" in info.value.one_line()
    with pytest.raises(UsageError):
        LossConfig(names=["ssim", "perceptual"], weights=[1.0, 1.0])
    with pytest.raises(UsageError):
        LossConfig(names=["ssim"], weights=[1.0, 2.0])


def test_learned_mask_loss_is_mse() -> None:
    pred = torch.full((2, 1, 16, 16), 0.25)
    target = torch.ones(2, 1, 32, 32)
    assert float(learned_mask_loss(pred, target)) == pytest.approx(0.75**2)
