"""Face reconstruction losses (SSIM, MS-SSIM, GMSD, MSE, MAE, log-cosh, smooth L1) and the
Faceswap-style masked, eye/mouth-weighted combination used to train the autoencoders.

Each loss takes ``(pred, target)`` as ``N x C x H x W`` in [0, 1] and returns either a
per-pixel map (``N x C x H x W``, "spatial") or one value per sample (``N``), so that masks and
region weights can be applied by :func:`face_loss`. All maths runs in float32, also under
bf16/fp16 autocast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from faceforge.errors import UsageError

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_SSIM_SIZE = 11
_SSIM_SIGMA = 1.5
_SSIM_C1 = 0.01**2
_SSIM_C2 = 0.03**2
# Per-scale exponents of MS-SSIM (Wang, Simoncelli & Bovik 2003), finest scale first.
_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_GMSD_C = 0.0026  # the paper's 170 for 0..255 images, rescaled to [0, 1]
_SMOOTH_L1_BETA = 0.1  # below ~25 grey levels the loss is quadratic, above it linear

_kernel_cache: dict[tuple[torch.device, int], tuple[torch.Tensor, torch.Tensor]] = {}


def _gaussian_kernels(device: torch.device, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise 11-tap gaussian (sigma 1.5) as a column and a row kernel for ``channels``."""
    key = (device, channels)
    if key not in _kernel_cache:
        coords = torch.arange(_SSIM_SIZE, dtype=torch.float32) - (_SSIM_SIZE - 1) / 2
        taps = torch.exp(-(coords**2) / (2 * _SSIM_SIGMA**2))
        taps = (taps / taps.sum()).to(device)
        column = taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1).contiguous()
        row = taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1).contiguous()
        _kernel_cache[key] = (column, row)
    return _kernel_cache[key]


def _blur(images: torch.Tensor) -> torch.Tensor:
    """Separable gaussian blur, reflect-padded so the map keeps the image size (and so lines up
    with the masks pixel for pixel)."""
    channels = images.shape[1]
    column, row = _gaussian_kernels(images.device, channels)
    pad = _SSIM_SIZE // 2
    images = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    images = F.conv2d(images, column, groups=channels)
    return F.conv2d(images, row, groups=channels)


def _ssim_parts(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps from the five local moments.

    The target-only moments are blurred apart from the ones that depend on the prediction, so
    the backward pass convolves 3 of the 5 moment groups, not all of them.
    """
    channels = pred.shape[1]
    with torch.no_grad() if not target.requires_grad else torch.enable_grad():
        mu_t, t2 = _blur(torch.cat([target, target * target], dim=1)).split(channels, dim=1)
    mu_p, p2, pt = _blur(torch.cat([pred, pred * pred, pred * target], dim=1)).split(
        channels, dim=1)
    mu_pt = mu_p * mu_t
    mu_p2, mu_t2 = mu_p * mu_p, mu_t * mu_t
    luminance = (2 * mu_pt + _SSIM_C1) / (mu_p2 + mu_t2 + _SSIM_C1)
    contrast = (2 * (pt - mu_pt) + _SSIM_C2) / ((p2 - mu_p2) + (t2 - mu_t2) + _SSIM_C2)
    return luminance, contrast


def ssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel ``1 - SSIM`` (gaussian window 11x11, sigma 1.5, per channel); ``N x C x H x W``.

    Faceswap's DSSIM is ``(1 - SSIM) / 2`` over the valid region only; ours keeps the full
    size (reflect padding) so it can be masked, and drops the halving.
    """
    luminance, contrast = _ssim_parts(pred.float(), target.float())
    return 1.0 - luminance * contrast


def ms_ssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample ``1 - MS-SSIM`` (``N``). Uses as many of the five standard scales as leave
    the coarsest side at least 11 px (3 at 64 px, 4 at 128 px), weights renormalised."""
    pred, target = pred.float(), target.float()
    size = min(pred.shape[-2:])
    levels = max(1, min(len(_MS_SSIM_WEIGHTS), int(math.log2(size / _SSIM_SIZE)) + 1))
    weights = torch.tensor(_MS_SSIM_WEIGHTS[:levels], device=pred.device)
    weights = weights / weights.sum()
    values = []
    for level in range(levels):
        luminance, contrast = _ssim_parts(pred, target)
        if level == levels - 1:
            values.append((luminance * contrast).mean(dim=(2, 3)))
        else:
            values.append(contrast.mean(dim=(2, 3)))
            pred, target = F.avg_pool2d(pred, 2), F.avg_pool2d(target, 2)
    # Clamped away from 0: a fractional power has an infinite slope there.
    stacked = torch.stack(values, dim=-1).clamp_min(1e-6)  # N x C x levels
    return 1.0 - torch.prod(stacked ** weights, dim=-1).mean(dim=1)


def _gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    channels = images.shape[1]
    prewitt = torch.tensor([[1.0, 0.0, -1.0]] * 3, device=images.device) / 3.0
    kernels = torch.stack([prewitt, prewitt.T])[:, None].repeat(channels, 1, 1, 1)
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    grads = F.conv2d(padded, kernels, groups=channels)  # N x 2C x H x W
    gx, gy = grads[:, 0::2], grads[:, 1::2]
    return torch.sqrt(gx * gx + gy * gy + 1e-12)  # eps: sqrt's slope is infinite at 0


def gmsd_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample Gradient Magnitude Similarity Deviation (Xue et al. 2013), ``N``: the
    standard deviation of the per-pixel gradient similarity (Prewitt, per channel)."""
    mag_p, mag_t = _gradient_magnitude(pred.float()), _gradient_magnitude(target.float())
    similarity = (2 * mag_p * mag_t + _GMSD_C) / (mag_p**2 + mag_t**2 + _GMSD_C)
    return similarity.flatten(1).std(dim=1)


def gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel absolute difference of the images' horizontal and vertical steps (to the
    next pixel right and down; 0 on the last column and row): an edge and texture term that
    blur cannot satisfy, as cheap as MAE (GMSD does the like per sample at several times the
    cost)."""
    diff = pred.float() - target.float()
    step_x = F.pad(diff[..., :, 1:] - diff[..., :, :-1], (0, 1, 0, 0))
    step_y = F.pad(diff[..., 1:, :] - diff[..., :-1, :], (0, 0, 0, 1))
    return step_x.abs() + step_y.abs()


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel squared error."""
    return (pred.float() - target.float()).square()


def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel absolute error."""
    return (pred.float() - target.float()).abs()


def log_cosh(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel ``log(cosh(error))``: quadratic for small errors, linear for large ones."""
    diff = (pred.float() - target.float()).abs()
    # log(cosh(x)) = |x| + log(1 + exp(-2|x|)) - log 2, which never overflows
    return diff + F.softplus(-2.0 * diff) - math.log(2.0)


def smooth_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel Huber-style smooth L1 with ``beta = 0.1`` (in [0, 1] image units)."""
    return F.smooth_l1_loss(pred.float(), target.float(), reduction="none",
                            beta=_SMOOTH_L1_BETA)


#: name -> loss function; spatial ones return N x C x H x W maps, the others one value each
LOSSES: dict[str, LossFunction] = {
    "ssim": ssim_loss,
    "ms_ssim": ms_ssim_loss,
    "gmsd": gmsd_loss,
    "gradient": gradient_loss,
    "mse": mse,
    "mae": mae,
    "log_cosh": log_cosh,
    "smooth_l1": smooth_l1,
}
SPATIAL_LOSSES = frozenset({"ssim", "gradient", "mse", "mae", "log_cosh", "smooth_l1"})


def get_loss(name: str) -> LossFunction:
    """The loss function called ``name``; :class:`UsageError` listing valid names otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise UsageError(
            f"unknown loss function {name!r}",
            hint=f"choose from: {', '.join(sorted(LOSSES))}",
        ) from None


@dataclass
class LossConfig:
    """Which losses to combine and how to weight them (Faceswap's defaults).

    ``eye_multiplier`` / ``mouth_multiplier`` follow Faceswap: a value above 1 adds that many
    times the loss inside the region on top of the face loss, so an eye pixel counts
    ``1 + eye_multiplier``; 1 or less switches the extra term off.
    """

    names: list[str] = field(default_factory=lambda: ["ssim", "mse"])
    weights: list[float] = field(default_factory=lambda: [1.0, 1.0])
    mask_penalty: bool = True
    eye_multiplier: float = 3.0
    mouth_multiplier: float = 2.0

    def __post_init__(self) -> None:
        if len(self.names) != len(self.weights):
            raise UsageError(
                f"{len(self.names)} loss functions but {len(self.weights)} loss weights",
                hint="give one weight per loss function",
            )
        for name in self.names:
            get_loss(name)


def _fit_mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    """Float32 ``N x 1 x H x W`` mask at the prediction's size (area-resampled if needed)."""
    if mask is None:
        return None
    mask = mask.float()
    if mask.ndim == 3:
        mask = mask[:, None]
    if mask.shape[-2:] != like.shape[-2:]:
        mask = F.interpolate(mask, size=like.shape[-2:], mode="area")
    return mask


def face_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    config: LossConfig,
    face_mask: torch.Tensor | None = None,
    eye_mask: torch.Tensor | None = None,
    mouth_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The weighted sum of ``config``'s losses for one output, as a float32 scalar.

    Masks are ``N x 1 x H x W`` (or ``N x H x W``) in [0, 1]. With ``mask_penalty`` the face
    mask zeroes the loss outside the face (the mean still runs over every pixel, as in
    Faceswap, so loss values are comparable with it). Spatial losses use per-pixel weights
    ``face * (1 + eye_multiplier * eye) * (1 + mouth_multiplier * mouth)``; per-sample losses
    (MS-SSIM, GMSD) are evaluated on the masked images, once per region, and summed with the
    same multipliers — Faceswap's two code paths, to the letter.
    """
    device_type = pred.device.type
    with torch.autocast(device_type=device_type, enabled=False):
        pred, target = pred.float(), target.float()
        face = _fit_mask(face_mask, pred) if config.mask_penalty else None
        regions: list[tuple[torch.Tensor, float]] = []
        for mask, multiplier in ((eye_mask, config.eye_multiplier),
                                 (mouth_mask, config.mouth_multiplier)):
            fitted = _fit_mask(mask, pred)
            if fitted is not None and multiplier > 1.0:
                regions.append((fitted, float(multiplier)))

        pixel_weight: torch.Tensor | None = face
        for mask, multiplier in regions:
            extra = 1.0 + multiplier * mask
            pixel_weight = extra if pixel_weight is None else pixel_weight * extra

        total = pred.new_zeros(())
        for name, weight in zip(config.names, config.weights, strict=True):
            if weight == 0:
                continue
            function = get_loss(name)
            if name in SPATIAL_LOSSES:
                loss_map = function(pred, target)
                if pixel_weight is not None:
                    loss_map = loss_map * pixel_weight
                value = loss_map.mean()
            else:
                value = (function(pred * face, target * face) if face is not None
                         else function(pred, target)).mean()
                for mask, multiplier in regions:
                    value = value + multiplier * function(pred * mask, target * mask).mean()
            total = total + weight * value
        return total


def learned_mask_loss(pred_mask: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """MSE between a model's learned mask and the training mask (float32 scalar)."""
    with torch.autocast(device_type=pred_mask.device.type, enabled=False):
        target = _fit_mask(target_mask, pred_mask)
        assert target is not None
        return (pred_mask.float() - target).square().mean()
