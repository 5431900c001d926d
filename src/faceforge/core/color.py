"""Colour adjustment of a predicted face towards the original face it replaces.

Every mode works in aligned-face space on float32 RGB images in [0, 1] and has the signature
``mode(new, old, mask, **options) -> new_adjusted``: ``new`` is the model's face, ``old`` the
original aligned face of the frame, ``mask`` (float32 HxW in [0, 1]) the face area whose
statistics count. The whole of ``new`` is adjusted with one transform (not only inside the
mask) so that no seam appears at the mask's edge before the composite blends it in.
Options and defaults follow Faceswap's ``plugins/convert/color`` plugins.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from faceforge.errors import UsageError

ColorFunction = Callable[..., np.ndarray]

DEFAULT_COLOR_MODE = "avg-color"
MANUAL_COLORSPACES = ("HSV", "LAB", "YCrCb", "RGB")

_EPS = 1e-6


def _as_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The mask as float32 HxW in [0, 1], checked against the image shape."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.shape != shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {shape}")
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) / 255.0
    return mask.astype(np.float32, copy=False)


def _as_image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be HxWx3 RGB, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return image.astype(np.float32, copy=False)


def _masked_mean(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-channel mean of `image`, weighted by the mask (one BLAS matrix-vector product)."""
    flat = image.reshape(-1, image.shape[2])
    return (weights.reshape(-1) @ flat).astype(np.float64) / float(weights.sum())


def _masked_mean_std(image: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of `image`, weighted by the mask."""
    mean = _masked_mean(image, weights)
    centred = image - mean.astype(np.float32)
    var = _masked_mean(centred * centred, weights)
    return mean, np.sqrt(var)


def no_color(new: np.ndarray, old: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`none`: the predicted face unchanged (a float32 copy)."""
    return _as_image(new, "new").copy()


def avg_color(new: np.ndarray, old: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`avg-color`: shift `new` so its mean colour inside the mask equals `old`'s."""
    new = _as_image(new, "new")
    old = _as_image(old, "old")
    weights = _as_mask(mask, new.shape)
    if weights.sum() <= _EPS:
        return new.copy()
    target = _masked_mean(old, weights)
    out = new
    # Clipping to [0, 1] after a shift moves the mean again where pixels saturate; a few
    # re-corrections (Faceswap loops twice) bring it back within ~1e-4. Without saturation
    # the first shift is exact and the loop ends at once.
    for _ in range(3):
        shift = (target - _masked_mean(out, weights)).astype(np.float32)
        if np.abs(shift).max() < 1e-5:
            break
        out = out + shift
        if out.min() >= 0.0 and out.max() <= 1.0:
            break
        np.clip(out, 0.0, 1.0, out=out)
    return out if out is not new else new.copy()


# L*a*b* ranges of cv2's float conversion (RGB in [0, 1]): L in [0, 100], a and b in about
# [-127, 127]; used to clip or rescale transferred channels back into something displayable.
_LAB_RANGES = ((0.0, 100.0), (-127.0, 127.0), (-127.0, 127.0))


def _fit_range(channel: np.ndarray, low: float, high: float, clip: bool) -> np.ndarray:
    if clip:
        return np.clip(channel, low, high)
    # Min-max rescale (Faceswap's clip=False) keeps detail in washed-out areas that clipping
    # would flatten, at the cost of changing the overall brightness a little.
    c_min, c_max = float(channel.min()), float(channel.max())
    if c_min >= low and c_max <= high:
        return channel
    new_low, new_high = max(c_min, low), min(c_max, high)
    return (channel - c_min) * ((new_high - new_low) / max(c_max - c_min, _EPS)) + new_low


def color_transfer(
    new: np.ndarray,
    old: np.ndarray,
    mask: np.ndarray,
    clip: bool = True,
    preserve_paper: bool = True,
) -> np.ndarray:
    """`color-transfer`: Reinhard et al. (2001) mean/std matching in L*a*b* inside the mask.

    preserve_paper=True scales each channel by std(old)/std(new), the paper's equation, which
    makes `new`'s L*a*b* statistics inside the mask equal `old`'s. preserve_paper=False uses the
    reciprocal factor. (Faceswap's code, taken from jrosebr1/color_transfer, swaps the two: its
    "paper" branch is the reciprocal one; see jrosebr1/color_transfer issues 1 and 11.)
    clip=True clips out-of-range L*a*b* values; False min-max rescales them instead.
    """
    new = _as_image(new, "new")
    old = _as_image(old, "old")
    weights = _as_mask(mask, new.shape)
    if weights.sum() <= _EPS:
        return new.copy()
    # Float conversion avoids the 8-bit quantisation of Faceswap's uint8 L*a*b*.
    new_lab = cv2.cvtColor(np.clip(new, 0.0, 1.0), cv2.COLOR_RGB2LAB)
    old_lab = cv2.cvtColor(np.clip(old, 0.0, 1.0), cv2.COLOR_RGB2LAB)
    new_mean, new_std = _masked_mean_std(new_lab, weights)
    old_mean, old_std = _masked_mean_std(old_lab, weights)
    if preserve_paper:
        scale = old_std / np.maximum(new_std, _EPS)
    else:
        scale = new_std / np.maximum(old_std, _EPS)
    out_lab = (new_lab - new_mean.astype(np.float32)) * scale.astype(np.float32)
    out_lab += old_mean.astype(np.float32)
    for idx, (low, high) in enumerate(_LAB_RANGES):
        out_lab[..., idx] = _fit_range(out_lab[..., idx], low, high, clip)
    return np.clip(cv2.cvtColor(out_lab, cv2.COLOR_LAB2RGB), 0.0, 1.0)


# Histograms use 8-bit levels: the output is 8-bit, so finer bins would add cost, not detail.
_LEVELS = 256
_LEVEL_VALUES = np.arange(_LEVELS, dtype=np.float64) / (_LEVELS - 1)


def _level_histogram(channel: np.ndarray, weights: np.ndarray) -> np.ndarray:
    levels = np.rint(np.clip(channel, 0.0, 1.0) * (_LEVELS - 1)).astype(np.intp).reshape(-1)
    return np.bincount(levels, weights=weights.reshape(-1), minlength=_LEVELS)


def _match_channel(
    new_channel: np.ndarray, old_channel: np.ndarray, weights: np.ndarray, keep: float
) -> np.ndarray:
    """Map one channel of `new` so its mask-weighted histogram follows `old`'s."""
    new_counts = _level_histogram(new_channel, weights)
    old_counts = _level_histogram(old_channel, weights)
    new_cdf = np.cumsum(new_counts) / new_counts.sum()
    old_cdf = np.cumsum(old_counts) / old_counts.sum()
    # Only occupied levels of `old` make a strictly increasing CDF that np.interp can invert.
    occupied = old_counts > 0
    # Scaling the source CDF below 1 (Faceswap's threshold) keeps the mapping from reaching the
    # most extreme values of `old`, which are often specular highlights or stray background.
    mapped = np.interp(new_cdf * keep, old_cdf[occupied], _LEVEL_VALUES[occupied])
    # Piecewise-linear between levels, so smooth gradients in `new` stay smooth.
    return np.interp(new_channel, _LEVEL_VALUES, mapped).astype(np.float32)


def match_hist(
    new: np.ndarray, old: np.ndarray, mask: np.ndarray, threshold: float = 99.0
) -> np.ndarray:
    """`match-hist`: per-channel histogram matching inside the mask.

    threshold (percent, Faceswap default 99, range 90-100) is the share of `old`'s histogram
    the mapping may reach; lower values cut more of the extreme colours.
    """
    if not 0.0 < threshold <= 100.0:
        raise UsageError(f"match-hist threshold must be in (0, 100], got {threshold}")
    new = _as_image(new, "new")
    old = _as_image(old, "old")
    weights = _as_mask(mask, new.shape)
    if weights.sum() <= _EPS:
        return new.copy()
    keep = threshold / 100.0
    channels = [_match_channel(new[..., c], old[..., c], weights, keep) for c in range(3)]
    return np.stack(channels, axis=-1)


# Each colour space's float cv2 channels, as (offset, scale) that bring them to [0, 1] so the
# balance sliders mean the same in every space (as Faceswap's uint8 / 255 does).
_SPACE_NORMS = {
    "RGB": ((0.0, 1.0), (0.0, 1.0), (0.0, 1.0)),
    "HSV": ((0.0, 360.0), (0.0, 1.0), (0.0, 1.0)),
    "LAB": ((0.0, 100.0), (-127.0, 254.0), (-127.0, 254.0)),
    "YCrCb": ((0.0, 1.0), (0.0, 1.0), (0.0, 1.0)),
}
_SPACE_CODES = {
    "HSV": (cv2.COLOR_RGB2HSV, cv2.COLOR_HSV2RGB),
    "LAB": (cv2.COLOR_RGB2LAB, cv2.COLOR_LAB2RGB),
    "YCrCb": (cv2.COLOR_RGB2YCrCb, cv2.COLOR_YCrCb2RGB),
}


def _slider_to_offset(value: float) -> int:
    # Faceswap maps its -100..100 sliders onto OpenCV's classic -127..127 contrast scale.
    return max(-126, int(round(value * 1.27)))


def manual_balance(
    new: np.ndarray,
    old: np.ndarray,
    mask: np.ndarray,
    colorspace: str = "HSV",
    balance_1: float = 0.0,
    balance_2: float = 0.0,
    balance_3: float = 0.0,
    contrast: float = 0.0,
    brightness: float = 0.0,
) -> np.ndarray:
    """`manual-balance`: fixed user adjustments, `old` and `mask` unused.

    balance_1/2/3 (percent, -100..100) act on the channels of `colorspace` (HSV: hue,
    saturation, value; LAB: lightness, green>magenta, blue>yellow; YCrCb: luma, Cr, Cb; RGB):
    positive values move a channel towards its maximum by that share of the distance left,
    negative values scale it towards its minimum. contrast and brightness (-100..100) follow
    Faceswap's formula. All zeros is the identity.
    """
    space = {name.lower(): name for name in MANUAL_COLORSPACES}.get(str(colorspace).lower())
    if space is None:
        raise UsageError(
            f"unknown manual-balance colorspace {colorspace!r}",
            hint=f"choose one of {', '.join(MANUAL_COLORSPACES)}",
        )
    image = _as_image(new, "new").copy()
    balances = np.asarray([balance_1, balance_2, balance_3], dtype=np.float32) / 100.0
    if np.abs(balances).max() > 1.0 or max(abs(contrast), abs(brightness)) > 100.0:
        raise UsageError("manual-balance values must be between -100 and 100")
    if balances.any():
        converted = image if space == "RGB" else cv2.cvtColor(image, _SPACE_CODES[space][0])
        for idx, (offset, scale) in enumerate(_SPACE_NORMS[space]):
            amount = float(balances[idx])
            if amount == 0:
                continue
            channel = (converted[..., idx] - offset) / scale
            if amount > 0:
                channel = channel + (1.0 - channel) * amount
            else:
                channel = channel * (1.0 + amount)
            converted[..., idx] = channel * scale + offset
        image = converted if space == "RGB" else cv2.cvtColor(converted, _SPACE_CODES[space][1])
        image = np.clip(image, 0.0, 1.0)
    if contrast or brightness:
        con = _slider_to_offset(contrast)
        bri = _slider_to_offset(brightness)
        image = np.clip(image * (con / 127.0 + 1.0) + (bri - con) / 255.0, 0.0, 1.0)
    return image.astype(np.float32, copy=False)


def seamless_clone(new: np.ndarray, old: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`seamless-clone`: Poisson-blend `new` into `old` inside the mask (cv2.seamlessClone).

    Contract: works in aligned-face space like every other mode. Inside the binarised mask
    (mask > 0) the result keeps `new`'s gradients with colours pulled to `old` at the mask's
    edge; outside it the result is exactly `old`. The caller composites it like any other
    adjusted face, so the frame outside the composite mask is untouched.
    """
    new = _as_image(new, "new")
    old = _as_image(old, "old")
    weights = _as_mask(mask, new.shape)
    inside = weights > 0
    if not inside.any():
        return new.copy()
    height, width = inside.shape
    # cv2 clears the outermost pixel ring of the mask and takes the boundary values from the
    # destination just outside the mask: a few pixels of reflected padding let a mask that
    # touches the crop's edge keep it, with the face's own colours there (Faceswap pads half
    # the size with black; results inside are the same, 3x faster, and no dark pull).
    pad_y = pad_x = 4
    old_u8 = np.rint(np.clip(old, 0, 1) * 255).astype(np.uint8)
    new_u8 = np.rint(np.clip(new, 0, 1) * 255).astype(np.uint8)
    dst = cv2.copyMakeBorder(old_u8, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REFLECT_101)
    src = cv2.copyMakeBorder(new_u8, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REFLECT_101)
    clone_mask = np.zeros(dst.shape[:2], dtype=np.uint8)
    clone_mask[pad_y : pad_y + height, pad_x : pad_x + width][inside] = 255
    # Centre the mask's bounding box on itself so the clone lands where it came from.
    x, y, w, h = cv2.boundingRect(clone_mask)
    blended = cv2.seamlessClone(src, dst, clone_mask, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    cloned = blended[pad_y : pad_y + height, pad_x : pad_x + width].astype(np.float32) / 255.0
    return np.where(inside[..., None], cloned, old).astype(np.float32)


COLOR_MODES: dict[str, ColorFunction] = {
    "avg-color": avg_color,
    "color-transfer": color_transfer,
    "match-hist": match_hist,
    "manual-balance": manual_balance,
    "seamless-clone": seamless_clone,
    "none": no_color,
}


def adjust_color(
    mode: str, new: np.ndarray, old: np.ndarray, mask: np.ndarray, **options: object
) -> np.ndarray:
    """Adjust predicted face `new` towards original face `old` with the named mode.

    Returns a float32 HxWx3 image in [0, 1]. Unknown modes or options raise UsageError.
    """
    function = COLOR_MODES.get(mode)
    if function is None:
        raise UsageError(
            f"unknown colour adjustment {mode!r}",
            hint=f"choose one of {', '.join(COLOR_MODES)}",
        )
    try:
        return function(new, old, mask, **options)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise UsageError(f"colour adjustment {mode!r}: {exc}") from None
        raise
