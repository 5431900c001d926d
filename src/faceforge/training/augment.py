"""Batched, device-side training augmentation: L*a*b* colour shifts and CLAHE, random
rotation/zoom/shift/flip shared by input and target, and the random grid warp (or warp to
landmarks) of the input only. Mirrors Faceswap's ``lib/training/augmentation.py`` in torch.

Every random draw comes from the caller's ``torch.Generator`` and is made on the generator's
device, so a seed gives the same batch on CPU and CUDA. The maths runs in float32 whatever the
input dtype (uint8, float32, bfloat16, float16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

# sRGB (D65) -> XYZ, the matrix OpenCV uses, so our L*a*b* matches cv2.cvtColor.
_RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE_D65 = (0.950456, 1.0, 1.088754)
_LAB_EPS = 0.008856  # (6/29)^3, where the cube-root law hands over to the linear segment
_LAB_KAPPA = 7.787  # slope of that linear segment, as in cv2

# Faceswap: warp noise std is 5/256 of the processing size and warp-to-landmarks noise
# 2/256 of it; in grid_sample's [-1, 1] coordinates (2 units per image) these are:
_WARP_STD_NORM = 2.0 * 5.0 / 256.0
_WARP_LM_STD_NORM = 2.0 * 2.0 / 256.0
_WARP_GRID = 5  # Faceswap's coarse 5x5 grid of random displacements
_TPS_GRID = 16  # landmark warps are evaluated on this coarse grid, then bilinearly upsampled


@dataclass
class AugmentConfig:
    """Strength of each augmentation; defaults are Faceswap's training defaults.

    Fractions (``zoom``, ``shift``) are of the image size; ``color_lightness`` and ``color_ab``
    are the largest relative move of L* and of a*/b* towards their limits (Faceswap's 30 % and
    8 %). ``color_clahe_max_size`` sets the largest CLAHE tile grid as in Faceswap: the grid is
    ``base + k * (base // 2)`` tiles a side with ``k`` in ``0..max_size`` and
    ``base = max(2, size // 128)``.
    """

    color: bool = True
    color_lightness: float = 0.30
    color_ab: float = 0.08
    color_clahe_chance: float = 0.5
    color_clahe_max_size: int = 4
    rotation_deg: float = 10.0
    zoom: float = 0.05
    shift: float = 0.05
    flip_chance: float = 0.5
    warp: bool = True
    warp_to_landmarks: bool = False


class AugmentedBatch(NamedTuple):
    """What :func:`augment_batch` returns (unpacks like a tuple).

    ``theta`` holds the per-sample ``(N, 2, 3)`` matrices, in ``grid_sample``'s normalised
    coordinates (``align_corners=False``), that map an output position to the source crop; the
    flip is folded in. ``flipped`` says which samples were mirrored.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor | None
    theta: torch.Tensor
    flipped: torch.Tensor


# ---------------------------------------------------------------------------------------------
# Colour
# ---------------------------------------------------------------------------------------------
def _channel_matmul(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    # Three multiply-adds per output channel beat einsum's permute/copy on small images.
    c0, c1, c2 = images[:, 0], images[:, 1], images[:, 2]
    return torch.stack(
        [matrix[i, 0] * c0 + matrix[i, 1] * c1 + matrix[i, 2] * c2 for i in range(3)], dim=1
    )


# Not kornia's: as fast, but its D65 white is not lab_to_rgb's (cv2's) (docs/benchmarks/training.md)
def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (``N x 3 x H x W``) to CIE L*a*b* (D65): L in [0, 100], a/b about ±128.

    Same constants as ``cv2.cvtColor(float32, COLOR_RGB2Lab)``.
    """
    rgb = rgb.float().clamp(0.0, 1.0)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = torch.tensor(_RGB_TO_XYZ, device=rgb.device)
    matrix = matrix / torch.tensor(_WHITE_D65, device=rgb.device)[:, None]
    xyz = _channel_matmul(linear, matrix)
    f = torch.where(
        xyz > _LAB_EPS, xyz.clamp_min(_LAB_EPS) ** (1.0 / 3.0), _LAB_KAPPA * xyz + 16.0 / 116.0
    )
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    lightness = torch.where(xyz[:, 1] > _LAB_EPS, 116.0 * fy - 16.0, 903.3 * xyz[:, 1])
    return torch.stack([lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


# Not kornia's: it clamps Z at 0, up to 0.19 off cv2 out of gamut (docs/benchmarks/training.md)
def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE L*a*b* (D65) to sRGB, clamped to [0, 1]; the inverse of :func:`rgb_to_lab`."""
    lab = lab.float()
    lightness, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    fy = (lightness + 16.0) / 116.0
    f = torch.stack([fy + a / 500.0, fy, fy - b / 200.0], dim=1)
    xyz = torch.where(f > 6.0 / 29.0, f**3, (f - 16.0 / 116.0) / _LAB_KAPPA)
    # cv2 uses the linear segment for Y directly from L below L=8 (903.3 * Y)
    y_linear = lightness / 903.3
    xyz[:, 1] = torch.where(lightness > 8.0, xyz[:, 1], y_linear)
    xyz = xyz * torch.tensor(_WHITE_D65, device=lab.device)[None, :, None, None]
    inverse = torch.linalg.inv(torch.tensor(_RGB_TO_XYZ, dtype=torch.float64)).float()
    linear = _channel_matmul(xyz, inverse.to(lab.device)).clamp(0.0, 1.0)
    rgb = torch.where(
        linear > 0.0031308, 1.055 * linear.clamp_min(0.0031308) ** (1.0 / 2.4) - 0.055,
        12.92 * linear,
    )
    return rgb.clamp(0.0, 1.0)


# Not kornia's: 1.8-2.4x slower and a mean 0.01-0.03 off ours (docs/benchmarks/training.md)
def clahe(
    lightness: torch.Tensor, grid_size: int, clip_limit: float = 2.0, bins: int = 256
) -> torch.Tensor:
    """Contrast Limited Adaptive Histogram Equalisation of ``N x 1 x H x W`` values in [0, 1].

    The batched equivalent of ``cv2.createCLAHE(clip_limit, (grid_size, grid_size)).apply`` on
    8-bit data: per-tile clipped histograms, cumulative LUTs, bilinear blend of the four nearest
    tile LUTs. Tiles are ``H / grid_size`` pixels (rounded), where cv2 pads the image instead.
    The clipped excess is spread evenly over all bins, where cv2 adds its remainder to every
    k-th bin from the darkest up; so ours comes out darker than cv2, by 0.002-0.05 on average
    on 64-128 px face crops (measured in docs/benchmarks/training.md).
    """
    n, _, height, width = lightness.shape
    device = lightness.device
    g = grid_size
    levels = (lightness[:, 0].clamp(0.0, 1.0) * (bins - 1)).round_()  # N x H x W, float
    tile_y = (torch.arange(height, device=device) * g) // height
    tile_x = (torch.arange(width, device=device) * g) // width
    tile = (tile_y[:, None] * g + tile_x[None, :]) * bins  # H x W
    sample = torch.arange(n, device=device)[:, None, None] * (g * g * bins)
    index = (levels.long() + tile + sample).reshape(-1)
    hist = torch.bincount(index, minlength=n * g * g * bins).reshape(n, g * g, bins).float()
    tile_area = hist[0].sum(dim=1, keepdim=True)  # g*g x 1 (same for every sample)
    limit = torch.clamp(torch.floor(clip_limit * tile_area / bins), min=1.0)  # as cv2
    excess = (hist - limit).clamp_min(0.0).sum(dim=2, keepdim=True)
    hist = torch.minimum(hist, limit) + excess / bins
    lut = torch.cumsum(hist, dim=2) / tile_area  # values in [0, 1]

    lut = lut.reshape(-1)

    # Each pixel blends the LUTs of the four tiles whose centres surround it (clamped at the
    # border): four flat gathers and three lerps over the batch.
    def _neighbours(size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) * g / size - 0.5
        low = pos.floor()
        weight = pos - low
        return low.long().clamp(0, g - 1), (low.long() + 1).clamp(0, g - 1), weight

    y0, y1, wy = _neighbours(height)
    x0, x1, wx = _neighbours(width)
    base = index - tile.reshape(1, -1).expand(n, -1).reshape(-1)  # sample offset + level
    base = base.reshape(n, height, width)

    def _lookup(ty: torch.Tensor, tx: torch.Tensor) -> torch.Tensor:
        return lut.take(base + (ty[:, None] * g + tx[None, :]) * bins)

    top = torch.lerp(_lookup(y0, x0), _lookup(y0, x1), wx)
    bottom = torch.lerp(_lookup(y1, x0), _lookup(y1, x1), wx)
    return torch.lerp(top, bottom, wy[:, None])[:, None]


# The augmentation's colour path works on f = cbrt(XYZ / white), in which L*a*b* is affine
# (L = 116 fy - 16, a = 500 (fx - fy), b = 200 (fy - fz)). Faceswap's per-image shift is affine
# in L*a*b*, hence a per-image 3x3 affine map on f: one batched matmul instead of two full
# colour conversions. It uses pure power laws (no linear toe near black), which round-trip
# exactly; the shift differs from the toe-exact maths only for values within ~1% of black.
_F_TO_LAB = ((0.0, 116.0, 0.0), (500.0, -500.0, 0.0), (0.0, 200.0, -200.0))
_F_TO_LAB_OFFSET = (-16.0, 0.0, 0.0)


def _color_adjust(
    images: torch.Tensor, config: AugmentConfig, draws: dict[str, torch.Tensor]
) -> torch.Tensor:
    n, _, height, width = images.shape
    device = images.device
    to_xyz = torch.tensor(_RGB_TO_XYZ, dtype=torch.float64)
    to_xyz = to_xyz / torch.tensor(_WHITE_D65, dtype=torch.float64)[:, None]
    from_xyz = torch.linalg.inv(to_xyz)
    f_to_lab = torch.tensor(_F_TO_LAB, dtype=torch.float64)
    lab_offset = torch.tensor(_F_TO_LAB_OFFSET, dtype=torch.float64)

    # Per-image shift in OpenCV's 8-bit Lab layout scaled to [0, 1] (u = lab * k + c), where
    # Faceswap defines it: a positive amount moves a channel towards its top, a negative one
    # towards 0. Both are affine in u: u' = u * gain + bias.
    amount = draws["lab"].double().cpu() * torch.tensor(
        [config.color_lightness, config.color_ab, config.color_ab], dtype=torch.float64
    )
    gain = torch.where(amount >= 0, 1.0 - amount, 1.0 + amount)
    bias = amount.clamp_min(0.0)
    k = torch.tensor([1 / 100.0, 1 / 255.0, 1 / 255.0], dtype=torch.float64)
    c = torch.tensor([0.0, 128 / 255.0, 128 / 255.0], dtype=torch.float64)
    # lab' = lab * gain + ((c + bias - c * gain) / k - ... ): solve u' = gain u + bias for lab.
    lab_bias = (c * gain + bias - c) / k  # N x 3
    # f' = F^-1 (diag(gain) (F f + o) + lab_bias - o)
    lab_to_f = torch.linalg.inv(f_to_lab)
    f_matrix = lab_to_f @ torch.diag_embed(gain) @ f_to_lab  # N x 3 x 3
    f_bias = (lab_to_f @ (gain * lab_offset + lab_bias - lab_offset)[:, :, None])  # N x 3 x 1
    # Fold XYZ in on the way in and out: f' = f_matrix f + f_bias.
    f_matrix = f_matrix.float().to(device)
    f_bias = f_bias.float().to(device)

    flat = images.reshape(n, 3, height * width)
    linear = flat.mul(1 / 1.055).add_(0.055 / 1.055).pow_(2.4)
    f = torch.bmm(to_xyz.float().to(device).expand(n, 3, 3), linear).pow_(1.0 / 3.0)
    f = torch.baddbmm(f_bias, f_matrix, f)

    size = images.shape[-1]
    base = max(2, size // 128)
    chosen = draws["clahe"] < config.color_clahe_chance
    grid_sizes = draws["clahe_size"] % (config.color_clahe_max_size + 1) * (base // 2) + base
    if config.color_clahe_chance > 0 and bool(chosen.any()):
        # One pass per distinct grid size (at most max_size + 1), never one per image. CLAHE
        # changes L only, i.e. adds the same step to fx, fy and fz (a and b stay put).
        for grid in torch.unique(grid_sizes[chosen]).tolist():
            rows = torch.nonzero(chosen & (grid_sizes == grid)).squeeze(1)
            fy = f[rows, 1:2]
            unit_l = (fy * 1.16 - 0.16).reshape(-1, 1, height, width)
            new_l = clahe(unit_l, int(grid)).reshape(-1, 1, height * width)
            f[rows] += (new_l - unit_l.reshape_as(new_l)) * (1 / 1.16)

    xyz = f.clamp_min_(0.0).pow_(3.0)
    linear = torch.bmm(from_xyz.float().to(device).expand(n, 3, 3), xyz).clamp_(0.0, 1.0)
    rgb = linear.pow_(1 / 2.4).mul_(1.055).sub_(0.055).clamp_(0.0, 1.0)
    return rgb.reshape(n, 3, height, width)


# ---------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------
def _affine_theta(config: AugmentConfig, draws: dict[str, torch.Tensor]) -> torch.Tensor:
    """Output-to-source matrices in normalised coordinates for rotation/zoom/shift/flip.

    Faceswap applies ``dst = s R (src - c) + c + t`` (cv2.getRotationMatrix2D about the centre)
    then flips the result; grid_sample needs the inverse, ``src = R^-1 (F dst - t) / s``.
    """
    angle = draws["rotation"] * math.radians(config.rotation_deg)
    scale = 1.0 + draws["zoom"] * config.zoom
    shift = draws["shift"] * (2.0 * config.shift)  # fraction of size -> normalised units
    flip = torch.where(draws["flip"] < config.flip_chance, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # cv2's positive angle turns the image anticlockwise on screen (y down); R^-1 is:
    inv = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    inv = inv * torch.stack([flip, torch.ones_like(flip)], -1)[:, None, :]  # right-multiply F
    translation = -(inv @ shift[:, :, None])
    return torch.cat([inv, translation], dim=2)


def _prefiltered(images: torch.Tensor, size: int) -> torch.Tensor:
    # Downscale with antialiasing before sampling, so a small output does not alias.
    if images.shape[-1] <= size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False)


def _random_warp_offsets(noise: torch.Tensor, theta: torch.Tensor, size: int) -> torch.Tensor:
    """Dense offsets (``N x size x size x 2``, source normalised units) from 5x5 noise.

    The noise lives in output space (Faceswap warps after the transform), so it is mapped
    through the affine's linear part to become an offset in the source crop.
    """
    flow = F.interpolate(noise * _WARP_STD_NORM, size=(size, size), mode="bilinear",
                         align_corners=True)  # control points on the image corners
    flow = flow.permute(0, 2, 3, 1)  # N x H x W x 2
    return flow @ theta[:, None, :, :2].transpose(2, 3)


def _tps_offsets(
    src: torch.Tensor, dst: torch.Tensor, grid_size: int, regularisation: float = 1e-3
) -> torch.Tensor:
    """Thin-plate spline from ``dst`` to ``src`` points (``N x P x 2``, normalised), returned as
    offsets ``f(x) - x`` sampled on a ``grid_size`` square over [-1, 1]: ``N x 2 x G x G``.
    """
    n, points, _ = src.shape
    device = src.device

    def _kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        r2 = torch.cdist(a, b).square()
        return r2 * torch.log(r2.clamp_min(1e-12))

    k = _kernel(dst, dst) + regularisation * torch.eye(points, device=device)
    ones = torch.ones(n, points, 1, device=device)
    p = torch.cat([ones, dst], dim=2)  # N x P x 3
    top = torch.cat([k, p], dim=2)
    bottom = torch.cat([p.transpose(1, 2), torch.zeros(n, 3, 3, device=device)], dim=2)
    system = torch.cat([top, bottom], dim=1)
    rhs = torch.cat([src - dst, torch.zeros(n, 3, 2, device=device)], dim=1)
    coeffs = torch.linalg.solve(system, rhs)  # N x (P+3) x 2

    line = torch.linspace(-1.0, 1.0, grid_size, device=device)
    gy, gx = torch.meshgrid(line, line, indexing="ij")
    grid = torch.stack([gx, gy], dim=-1).reshape(1, -1, 2).expand(n, -1, -1)
    basis = torch.cat([_kernel(grid, dst), torch.ones(n, grid.shape[1], 1, device=device),
                       grid], dim=2)
    offsets = basis @ coeffs  # N x G*G x 2
    return offsets.transpose(1, 2).reshape(n, 2, grid_size, grid_size)


def _landmark_warp_offsets(
    landmarks: torch.Tensor,
    landmarks_dst: torch.Tensor,
    noise: torch.Tensor,
    size_in: int,
    source_grid: torch.Tensor,
) -> torch.Tensor:
    """Offsets at ``source_grid`` positions that move each face's landmarks onto ``dst``."""
    n = landmarks.shape[0]
    to_norm = 2.0 / size_in
    src = (landmarks.float() + 0.5) * to_norm - 1.0
    dst = (landmarks_dst.float() + 0.5) * to_norm - 1.0 + noise * _WARP_LM_STD_NORM
    # Faceswap pins the corners and edge midpoints so the border does not move.
    anchors = torch.tensor(
        [(-1, -1), (-1, 1), (1, 1), (1, -1), (0, -1), (0, 1), (1, 0), (-1, 0)],
        dtype=torch.float32, device=src.device,
    ).expand(n, -1, -1)
    src = torch.cat([src, anchors], dim=1)
    dst = torch.cat([dst, anchors], dim=1)
    coarse = _tps_offsets(src, dst, _TPS_GRID)
    # Sample the smooth coarse offset field where each output pixel lands in the source crop.
    # (the coarse field's samples sit on the corners of [-1, 1], hence align_corners=True)
    dense = F.grid_sample(coarse, source_grid, mode="bilinear", padding_mode="border",
                          align_corners=True)
    return dense.permute(0, 2, 3, 1)


def _draw(n: int, generator: torch.Generator | None, device: torch.device,
          size_in: int) -> dict[str, torch.Tensor]:
    # Every draw is made every time, in a fixed order, so switching one augmentation off does
    # not change the random numbers the others get.
    gen_device = generator.device if generator is not None else torch.device("cpu")

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=gen_device) * 2.0 - 1.0

    draws = {
        "lab": uniform(n, 3),
        "clahe": torch.rand(n, generator=generator, device=gen_device),
        "clahe_size": torch.randint(0, 1 << 16, (n,), generator=generator, device=gen_device),
        "rotation": uniform(n),
        "zoom": uniform(n),
        "shift": uniform(n, 2),
        "flip": torch.rand(n, generator=generator, device=gen_device),
        "warp": torch.randn(n, 2, _WARP_GRID, _WARP_GRID, generator=generator,
                            device=gen_device),
        "partner": torch.rand(n, generator=generator, device=gen_device).argsort(),
        "landmark_noise": torch.randn(n, 68, 2, generator=generator, device=gen_device),
    }
    return {k: v.to(device) for k, v in draws.items()}


def _to_float(images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    return images.float()


def augment_batch(
    images: torch.Tensor,
    config: AugmentConfig,
    generator: torch.Generator | None,
    *,
    out_size_input: int,
    out_size_target: int,
    masks: torch.Tensor | None = None,
    landmarks: torch.Tensor | None = None,
    landmarks_dst: torch.Tensor | None = None,
) -> AugmentedBatch:
    """Augment a batch of square RGB face crops for one side of the model.

    ``images``: ``N x 3 x S x S``, uint8 or float in [0, 1] (any memory format). The same
    random colour shift and rotation/zoom/shift/flip go to input and target; the random warp
    (or the warp to landmarks) to the input only. ``masks`` (``N x K x S x S``, any dtype in
    [0, 1]) follow the targets' geometry exactly, so loss masks line up; colour is not applied
    to them. ``landmarks`` (``N x 68 x 2``, pixels of the crop) are needed for
    ``warp_to_landmarks``; each face is warped towards ``landmarks_dst`` or, if that is None,
    towards the landmarks of another face of the batch picked at random.

    Returns inputs at ``out_size_input`` and targets/masks at ``out_size_target``, float32 for
    uint8 input and otherwise the input's dtype; memory format follows the input.
    """
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
        raise ValueError(f"expected N x 3 x S x S images, got {tuple(images.shape)}")
    n, _, size_in, _ = images.shape
    device = images.device
    out_dtype = torch.float32 if images.dtype == torch.uint8 else images.dtype
    channels_last = images.is_contiguous(memory_format=torch.channels_last) and n > 0
    draws = _draw(n, generator, device, size_in)

    faces = _to_float(images)
    if config.color:
        faces = _color_adjust(faces, config, draws)

    theta = _affine_theta(config, draws)

    target_grid = F.affine_grid(theta, [n, 3, out_size_target, out_size_target],
                                align_corners=False)
    # Faceswap transforms with BORDER_REPLICATE, hence "border" padding throughout.
    targets = F.grid_sample(_prefiltered(faces, out_size_target), target_grid, mode="bilinear",
                            padding_mode="border", align_corners=False)
    out_masks = None
    if masks is not None:
        out_masks = F.grid_sample(_prefiltered(_to_float(masks), out_size_target), target_grid,
                                  mode="bilinear", padding_mode="border", align_corners=False)

    input_grid = (
        target_grid if out_size_input == out_size_target
        else F.affine_grid(theta, [n, 3, out_size_input, out_size_input], align_corners=False)
    )
    if config.warp_to_landmarks:
        if landmarks is None:
            raise ValueError("warp_to_landmarks needs the landmarks of each face (N x 68 x 2)")
        partner = landmarks[draws["partner"]] if landmarks_dst is None else landmarks_dst
        input_grid = input_grid + _landmark_warp_offsets(
            landmarks.to(device), partner.to(device), draws["landmark_noise"], size_in,
            input_grid,
        )
    elif config.warp:
        input_grid = input_grid + _random_warp_offsets(draws["warp"], theta, out_size_input)
    inputs = F.grid_sample(_prefiltered(faces, out_size_input), input_grid, mode="bilinear",
                           padding_mode="border", align_corners=False)

    def _finish(batch: torch.Tensor) -> torch.Tensor:
        batch = batch.clamp(0.0, 1.0).to(out_dtype)
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch

    return AugmentedBatch(
        inputs=_finish(inputs),
        targets=_finish(targets),
        masks=None if out_masks is None else _finish(out_masks),
        theta=theta,
        flipped=draws["flip"] < config.flip_chance,
    )
