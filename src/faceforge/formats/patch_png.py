"""Face patches: a swapped face as a PNG (RGB, or RGBA with its blend mask as alpha) that
carries the matrix placing it in its frame, for compositing in other software.

The metadata is JSON in an ``iTXt`` chunk keyed ``faceforge_patch`` right after IHDR: version,
source file name, frame and face index, frame size, patch size and the 2 x 3 frame-to-patch
matrix.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceforge.errors import FormatError, InputError
from faceforge.formats.json_text import parse_json
from faceforge.formats.png_chunks import decode_png, insert_after_ihdr, itxt_chunk, text_chunks

__all__ = [
    "PATCH_META_KEY",
    "PATCH_META_VERSION",
    "FacePatch",
    "encode_patch_png",
    "make_patch_meta",
    "read_patch",
]

PATCH_META_KEY = "faceforge_patch"
PATCH_META_VERSION = 1


@dataclass(frozen=True)
class FacePatch:
    """One swapped face as the patch writer stores it.

    image_rgb: the swapped face in aligned-face space, S x S x 3 uint8.
    matrix: 2 x 3 affine from frame pixels to patch pixels (as for cv2.warpAffine); its inverse
    puts the patch back into the frame. mask: optional S x S uint8 blend mask, stored as alpha.
    """

    image_rgb: np.ndarray
    matrix: np.ndarray
    face_index: int = 0
    mask: np.ndarray | None = None


def make_patch_meta(
    patch: FacePatch, source: str, frame_index: int, frame_size: tuple[int, int]
) -> dict[str, Any]:
    """The metadata of `patch`, face `patch.face_index` of frame `frame_index` of the file
    named `source`, whose frames are `frame_size` (width, height) pixels."""
    matrix = np.asarray(patch.matrix, dtype=np.float64)
    image = patch.image_rgb
    if matrix.shape != (2, 3):
        raise ValueError(f"a patch matrix is 2 x 3, got {matrix.shape}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"a patch is H x W x 3 uint8, got {image.dtype} {image.shape}")
    return {
        "version": PATCH_META_VERSION,
        "source": source,
        "frame_index": frame_index,
        "face_index": patch.face_index,
        "frame_size": [frame_size[0], frame_size[1]],
        "patch_size": [image.shape[1], image.shape[0]],
        "matrix": matrix.tolist(),
    }


def encode_patch_png(
    patch: FacePatch,
    source: str,
    frame_index: int,
    frame_size: tuple[int, int],
    compression: int = 3,
) -> bytes:
    """PNG bytes of `patch` with its metadata (see `make_patch_meta`); `compression` 0-9."""
    meta = make_patch_meta(patch, source, frame_index, frame_size)
    image = patch.image_rgb
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if patch.mask is not None:
        if patch.mask.shape != image.shape[:2]:
            raise ValueError(f"mask {patch.mask.shape} does not match patch {image.shape}")
        pixels = np.dstack((pixels, patch.mask.astype(np.uint8)))
    ok, encoded = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ValueError(f"OpenCV could not encode a patch of frame {frame_index}")
    # Right after IHDR, so readers find it without walking the pixel data.
    return insert_after_ihdr(encoded.tobytes(), itxt_chunk(PATCH_META_KEY, json.dumps(meta)))


def read_patch(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """A patch file's pixels (RGB or RGBA uint8) and its metadata, matrix as a 2 x 3 array."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"patch {path} not found", "check the output folder") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", "check its permissions") from exc
    texts, _ = text_chunks(data, path)
    text = texts.get(PATCH_META_KEY)
    if text is None:
        raise FormatError(f"{path} is not a faceforge patch", "give a file the patch writer made")
    pixels = decode_png(data, cv2.IMREAD_UNCHANGED, path, "patch")
    if pixels.dtype != np.uint8:  # a 16-bit PNG: keep the high byte
        pixels = (pixels >> 8).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    elif pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
    else:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    try:
        meta = parse_json(text)
        meta["matrix"] = np.asarray(meta["matrix"], dtype=np.float64).reshape(2, 3)
    except (KeyError, TypeError, ValueError) as exc:  # JsonProblem is a ValueError
        raise FormatError(f"{path} has damaged patch metadata ({exc})",
                          "write the patch again") from None
    return pixels, meta
