"""Mask post-processing, the composite of a predicted face into its frame, and sharpening.

The mask is shaped in aligned-face space (erosion per edge, blur, threshold), then the face and
mask are warped back into the frame over the face's bounding box only and alpha-blended.
Pixels where the warped mask is exactly 0 are never written, so they stay byte-identical.
Options and defaults follow Faceswap's ``plugins/convert/mask/mask_blend`` and
``plugins/convert/scaling/sharpen``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from faceforge.core.image import grey
from faceforge.errors import UsageError

BLUR_TYPES = ("gaussian", "normalized")
SHARPEN_METHODS = ("none", "box", "gaussian", "unsharp_mask")

# Faceswap states blur kernel sizes for a 128 px mask; other sizes scale in proportion.
_KERNEL_REFERENCE_SIZE = 128
# Each further blur pass uses a smaller kernel (Faceswap's BlurMask): later passes only round
# off what the first one left, so they need less reach.
_PASS_SHRINK = {"gaussian": 0.8, "normalized": 0.5}

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class MaskBlendConfig:
    """How a face mask's edge is shaped before compositing (Faceswap's mask_blend options).

    blur_type: "normalized" (box filter, Faceswap's default), "gaussian" or None for no blur.
    kernel_size: blur diameter in pixels of a 128 px face (scaled to the real face size).
    passes: blur passes, each with a smaller kernel.
    threshold: percent; mask values below it become 0 and above 100 minus it become 1.
    erosion: percent of the mask's radius (sqrt(area) / 2); positive shrinks, negative grows.
    erosion_top/bottom/left/right: the same, moving only that edge (top = forehead side).
    fade_crop_edge: fade the mask to 0 at the border of the face crop, so a mask that touches
        the crop never leaves a hard line in the frame (Faceswap always does this).
    """

    blur_type: str | None = "normalized"
    kernel_size: int = 3
    passes: int = 4
    threshold: float = 4.0
    erosion: float = 0.0
    erosion_top: float = 0.0
    erosion_bottom: float = 0.0
    erosion_left: float = 0.0
    erosion_right: float = 0.0
    fade_crop_edge: bool = True

    def __post_init__(self) -> None:
        if self.blur_type == "none":
            object.__setattr__(self, "blur_type", None)
        if self.blur_type is not None and self.blur_type not in BLUR_TYPES:
            raise UsageError(
                f"unknown mask blur type {self.blur_type!r}",
                hint=f"choose one of {', '.join(BLUR_TYPES)} or none",
            )
        if not 0 <= self.kernel_size <= 99:
            raise UsageError(f"mask blur kernel_size must be in [0, 99], got {self.kernel_size}")
        if not 1 <= self.passes <= 16:
            raise UsageError(f"mask blur passes must be in [1, 16], got {self.passes}")
        if not 0.0 <= self.threshold < 50.0:
            raise UsageError(f"mask threshold must be in [0, 50), got {self.threshold}")
        for name in ("erosion", "erosion_top", "erosion_bottom", "erosion_left", "erosion_right"):
            value = getattr(self, name)
            if not -100.0 <= value <= 100.0:
                raise UsageError(f"mask {name} must be in [-100, 100] percent, got {value}")


def _to_float_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"mask must be HxW, got shape {mask.shape}")
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) * np.float32(1 / 255)
    return np.clip(mask.astype(np.float32), 0.0, 1.0)


def _edge_kernel(length: int, edge: str, grow: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """A 1-pixel-thin line kernel and its anchor that erode or dilate one side of a shape only.

    With the anchor at one end of the line, erosion removes `length` pixels from the edges
    facing the other end, and dilation adds `length` pixels to the edges facing the anchor's
    end; every other edge stays where it was.
    """
    horizontal = edge in ("left", "right")
    kernel = np.ones((1, length) if horizontal else (length, 1), dtype=np.uint8)
    # So eroding the left edge needs the anchor at the right end, growing it the left end.
    far_end = edge in ("left", "top")
    anchor_at_end = far_end != grow
    pos = length - 1 if anchor_at_end else 0
    anchor = (pos, 0) if horizontal else (0, pos)
    return kernel, anchor


def _erode(mask: np.ndarray, config: MaskBlendConfig) -> np.ndarray:
    amounts = {
        "whole": config.erosion,
        "top": config.erosion_top,
        "bottom": config.erosion_bottom,
        "left": config.erosion_left,
        "right": config.erosion_right,
    }
    if not any(amounts.values()):
        return mask
    # Sizes are relative to the mask's own radius, so one setting suits every face size.
    radius = float(np.sqrt(mask.sum())) / 2.0
    for edge, percent in amounts.items():
        length = int(abs(percent / 100.0 * radius))
        if length == 0:
            continue
        grow = percent < 0
        operation = cv2.dilate if grow else cv2.erode
        if edge == "whole":
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (length, length))
            mask = operation(mask, kernel)
        else:
            kernel, anchor = _edge_kernel(length, edge, grow)
            mask = operation(
                mask, kernel, anchor=anchor, borderType=cv2.BORDER_CONSTANT, borderValue=0
            )
    return mask


def _odd(size: int) -> int:
    return size + 1 if size % 2 == 0 else size


def _blur(mask: np.ndarray, config: MaskBlendConfig, face_size: int) -> np.ndarray:
    if config.blur_type is None or config.kernel_size == 0:
        return mask
    kernel = max(1, int(round(config.kernel_size * face_size / _KERNEL_REFERENCE_SIZE)))
    for _ in range(config.passes):
        size = _odd(kernel)
        if config.blur_type == "gaussian":
            mask = cv2.GaussianBlur(mask, (size, size), 0)
        else:
            mask = cv2.blur(mask, (size, size))
        kernel = max(1, int(round(kernel * _PASS_SHRINK[config.blur_type])))
    return mask


@lru_cache(maxsize=8)
def crop_edge_fade(face_size: int) -> np.ndarray:
    """A face_size square mask that is 1 inside and fades to 0 at the crop's border.

    Read-only and cached: it depends on the size alone. The hard margin (1/32 of the size,
    plus 1 px) and the Gaussian of about 6% of the size are Faceswap's choices.
    """
    fade = np.zeros((face_size, face_size), dtype=np.float32)
    edge = face_size // 32 + 1
    fade[edge:-edge, edge:-edge] = 1.0
    radius = max(1, int(round(face_size * 0.06)))
    fade = cv2.GaussianBlur(fade, (2 * radius + 1, 2 * radius + 1), 0)
    # The Gaussian leaks a little past the margin; the outermost pixels must be exactly 0 so
    # that the warped face's box edge never shows.
    fade[:edge, :] = fade[-edge:, :] = 0.0
    fade[:, :edge] = fade[:, -edge:] = 0.0
    fade.setflags(write=False)
    return fade


def process_mask(
    mask: np.ndarray, config: MaskBlendConfig | None = None, face_size: int | None = None
) -> np.ndarray:
    """Shape a face mask for compositing: erode/dilate, blur, fade at the crop edge, threshold.

    `mask` is uint8 (0-255) or float (0-1), HxW or HxWx1, in aligned-face space. `face_size` is
    the side of the aligned face it will be applied to; the mask is resized to it first when
    its size differs (default: keep the mask's size). Returns a float32 square in [0, 1].
    """
    config = config or MaskBlendConfig()
    out = _to_float_mask(mask)
    if face_size is not None and out.shape != (face_size, face_size):
        shrink = out.shape[0] > face_size
        out = cv2.resize(
            out,
            (face_size, face_size),
            interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
        )
    size = out.shape[0]
    out = _erode(out, config)
    out = _blur(out, config, size)
    if config.fade_crop_edge and out.shape[0] == out.shape[1]:
        out = np.minimum(out, crop_edge_fade(size))
    if config.threshold > 0:
        # After the blur, so its faint tails (which would tint the frame around the face)
        # are cut and the face's inside is exactly 1.
        level = np.float32(config.threshold / 100.0)
        out = np.where(out < level, np.float32(0), out)
        out = np.where(out > 1 - level, np.float32(1), out)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def face_box_in_frame(
    frame_to_face: np.ndarray, face_size: int, frame_shape: tuple[int, ...]
) -> Box | None:
    """(x0, y0, x1, y1), exclusive end, of the frame pixels an aligned face can touch.

    None when the face lies wholly outside the frame.
    """
    face_to_frame = cv2.invertAffineTransform(np.asarray(frame_to_face, dtype=np.float64))
    corners = np.array(
        [[0, 0], [face_size, 0], [0, face_size], [face_size, face_size]], dtype=np.float64
    )
    points = corners @ face_to_frame[:, :2].T + face_to_frame[:, 2]
    # One pixel of margin covers the interpolation footprint at the box edge.
    x0 = max(0, int(np.floor(points[:, 0].min())) - 1)
    y0 = max(0, int(np.floor(points[:, 1].min())) - 1)
    x1 = min(frame_shape[1], int(np.ceil(points[:, 0].max())) + 2)
    y1 = min(frame_shape[0], int(np.ceil(points[:, 1].max())) + 2)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def _box_matrix(frame_to_face: np.ndarray, box: Box) -> np.ndarray:
    """frame→face matrix for the pixels of `box` (its top-left corner as origin)."""
    matrix = np.asarray(frame_to_face, dtype=np.float64).copy()
    matrix[:, 2] += matrix[:, :2] @ np.array([box[0], box[1]], dtype=np.float64)
    return matrix


def composite(
    frame: np.ndarray,
    face: np.ndarray,
    mask: np.ndarray,
    frame_to_face: np.ndarray,
    detail: float = 0.0,
) -> tuple[np.ndarray, Box | None]:
    """Blend an aligned face back into its frame.

    frame: uint8 HxWx3 (any channel order, as long as `face` uses the same; RGB when `detail`
        is used, which weighs the channels as luminance).
    face: float32 SxSx3 in [0, 1] (or uint8), the predicted, colour-adjusted face.
    mask: float32 SxS in [0, 1] (or uint8), the processed mask (see `process_mask`).
    frame_to_face: the 2x3 aligned-face matrix that cut the face out of this frame (the one
        given to `image.warp_face`); it is applied inverted here.
    detail: share (0-1) of the frame's own fine detail to restore where an upscaled face lacks
        it (see `restore_detail`); 0 leaves the face as predicted.
    Returns a new frame and the (x0, y0, x1, y1) box, end exclusive, outside which nothing
    changed (None when nothing changed). Every pixel where the warped mask is exactly 0 is
    byte-identical to the input frame.
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3:
        raise ValueError(f"frame must be uint8 HxWxC, got {frame.dtype} {frame.shape}")
    size = face.shape[0]
    if face.shape[:2] != (size, size) or np.asarray(mask).shape[:2] != (size, size):
        raise ValueError(f"face {face.shape} and mask {np.shape(mask)} must be the same square")
    out = frame.copy()
    box = face_box_in_frame(frame_to_face, size, frame.shape)
    if box is None:
        return out, None
    x0, y0, x1, y1 = box
    matrix = _box_matrix(frame_to_face, box)
    dsize = (x1 - x0, y1 - y0)
    alpha = cv2.warpAffine(
        _to_float_mask(mask),
        matrix,
        dsize,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return out, None
    cols = np.flatnonzero(alpha.any(axis=0))
    # Shrink to where the mask landed: everything else is left alone, and less is blended.
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    alpha = alpha[r0:r1, c0:c1]
    tight = (x0 + c0, y0 + r0, x0 + c1, y0 + r1)
    if face.dtype == np.uint8:
        face_u8 = face
    else:
        # cv2's convert rounds and saturates in one fast pass; the clip keeps its abs() inert.
        face_u8 = cv2.convertScaleAbs(np.clip(face, 0.0, 1.0), alpha=255.0)
    # Upscaling (the usual case: a 64-256 px face into a larger frame area) looks smoother
    # with cubic; when shrinking, linear is enough and cheaper.
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(frame_to_face)[:, :2]))))
    interpolation = cv2.INTER_CUBIC if scale < 1.0 else cv2.INTER_LINEAR
    warped = cv2.warpAffine(
        face_u8,
        _box_matrix(frame_to_face, tight),
        (c1 - c0, r1 - r0),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    region = out[tight[1] : tight[3], tight[0] : tight[2]]
    if detail > 0 and scale < 1.0:
        warped = restore_detail(region, warped, alpha, 1.0 / scale, detail)
    blended = cv2.blendLinear(region, warped, 1.0 - alpha, alpha)
    # blendLinear already returns the original where alpha is 0, but copying only where
    # alpha > 0 makes the byte-identical promise independent of its float arithmetic.
    cv2.copyTo(blended, (alpha > 0).view(np.uint8), region)
    return out, tight


# The band restored by `restore_detail`: a Gaussian of this many upscale factors (frame pixels
# per face pixel) splits it off. A face predicted at S pixels holds no detail finer than a
# period of two face pixels; a Gaussian of sigma = 0.375 face pixels halves that frequency
# (exp(-2 pi^2 sigma^2 f^2) = 1/2 at f = 1/2), so the band is what the model cannot draw.
DETAIL_SIGMA = 0.375
# Where the face the model drew and the original differ by more than this (0-255 levels of
# luminance, in the band the model does draw), the original's detail belongs to a feature the
# new face does not have there (a frame of glasses, a brow placed otherwise) and is not moved.
DETAIL_MISMATCH = 48.0
# The two are compared at this many times the band's own scale, where a model draws faithfully.
DETAIL_COMPARE = 2.0


def _middle_band(image: np.ndarray, sigma: float) -> np.ndarray:
    """The features a model draws (brows, lids, a frame of glasses) without the shading under
    them: the band between Gaussians of sigma and 3 sigma."""
    low = cv2.GaussianBlur(image, (0, 0), sigma)
    return low - cv2.GaussianBlur(low, (0, 0), 2.8 * sigma)


def restore_detail(source: np.ndarray, warped: np.ndarray, alpha: np.ndarray,
                   upscale: float, amount: float) -> np.ndarray:
    """Give an upscaled face back the fine texture of the face it replaces.

    A model that predicts a 64 px face which covers 200 frame pixels cannot draw anything finer
    than about 6 frame pixels: pores, lashes, stubble, the crisp line of a lip. Those lie in a
    band the model never represents; the source person's shapes, colours and proportions live
    in the coarser bands it does draw. Only luminance is moved, so no colour of the source
    returns. But the band also holds the source's own thin features (the wire of a pair of
    glasses the new face does not wear): those come back too, which is why convert leaves
    this off unless asked (docs/benchmarks/quality.md).

    source, warped: uint8 HxWx3 RGB, the frame pixels under the face and the face warped onto
        them.
    alpha: float HxW, the blend mask over the same pixels (weights the energy measure).
    upscale: frame pixels per face pixel (above 1).
    amount: 0-1, the share of the missing band to restore. The band the face already has is
        measured against the source's, and only the shortfall is added, so a sharp face (a
        large model, a face shown small) gets little or nothing.
    Returns warped with the detail added (uint8).
    """
    sigma = DETAIL_SIGMA * upscale
    src = grey(source).astype(np.float32)
    band = src - cv2.GaussianBlur(src, (0, 0), sigma)
    face = grey(warped).astype(np.float32)
    own = face - cv2.GaussianBlur(face, (0, 0), sigma)
    weight = alpha > 0.5
    if not weight.any():
        return warped
    wanted = float(np.mean(np.square(band[weight])))
    if wanted <= 1e-6:
        return warped
    has = float(np.mean(np.square(own[weight])))
    gain = amount * float(np.sqrt(max(0.0, 1.0 - has / wanted)))
    if gain <= 0.0:
        return warped
    mismatch = cv2.GaussianBlur(np.abs(_middle_band(face - src, DETAIL_COMPARE * sigma)),
                                (0, 0), DETAIL_COMPARE * sigma)
    band = band * np.clip(1.0 - mismatch / DETAIL_MISMATCH, 0.0, 1.0)
    out = warped.astype(np.float32) + (gain * band)[..., None]
    return cv2.convertScaleAbs(np.clip(out, 0.0, 255.0))


def _sharpen_kernel_size(image: np.ndarray, radius: float) -> tuple[int, int]:
    # Faceswap: the radius is a percentage of the image width, at least 1 px.
    pixels = max(1, int(round(image.shape[1] * radius / 100.0)))
    return 2 * pixels + 1, pixels


def sharpen(
    image: np.ndarray,
    method: str = "none",
    amount: float = 150.0,
    radius: float = 0.3,
    threshold: float = 5.0,
) -> np.ndarray:
    """Sharpen an image (Faceswap's scaling/sharpen options and defaults).

    method: none, box, gaussian or unsharp_mask. amount: percent of overshoot (Faceswap range
    100-500). radius: percent of the image width (0.1-5). threshold: unsharp_mask only, the
    smallest difference (0-255 scale) from the blurred image that gets sharpened, so smooth skin
    is not speckled (this is the documented meaning; Faceswap's code applies the inverse
    condition). Returns the same dtype as given: uint8, or float32 clipped to [0, 1].
    """
    if method not in SHARPEN_METHODS:
        raise UsageError(
            f"unknown sharpen method {method!r}", hint=f"choose one of {', '.join(SHARPEN_METHODS)}"
        )
    is_uint8 = image.dtype == np.uint8
    if method == "none":
        return image.copy()
    work = image.astype(np.float32) / (255.0 if is_uint8 else 1.0)
    strength = amount / 100.0
    ksize, centre = _sharpen_kernel_size(work, radius)
    if method == "box":
        identity = np.zeros((ksize, ksize), dtype=np.float32)
        identity[centre, centre] = 1.0
        box = np.full((ksize, ksize), 1.0 / ksize**2, dtype=np.float32)
        result = cv2.filter2D(work, -1, identity + (identity - box) * strength)
    elif method == "gaussian":
        blur = cv2.GaussianBlur(work, (ksize, ksize), 0)
        result = cv2.addWeighted(work, 1.0 + 0.5 * strength, blur, -0.5 * strength, 0)
    else:
        blur = cv2.GaussianBlur(work, (ksize, ksize), 0)
        detail = work - blur
        sharpened = work + detail * strength
        result = np.where(np.abs(detail) >= threshold / 255.0, sharpened, work)
    result = np.clip(result, 0.0, 1.0)
    if is_uint8:
        return np.rint(result * 255.0).astype(np.uint8)
    return result.astype(np.float32, copy=False)
