"""Aligned face images as PNG files that carry their own metadata.

The metadata (source, frame, face index, landmarks, matrix...) is JSON in an ``iTXt`` chunk
with keyword ``faceforge`` placed right after IHDR, so a curated faces folder can be matched
back to its alignments store without the store, and the metadata reads without decoding
pixels. Faceswap's face PNGs (an ``iTXt`` chunk keyed ``faceswap`` holding a Python literal)
are read too, into the same dict shape with ``"origin": "faceswap"``.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceforge.errors import FormatError, OutputError
from faceforge.formats.json_text import JsonProblem, parse_json
from faceforge.formats.png_chunks import (
    MAX_PNG_SIDE,
    decode_png,
    insert_after_ihdr,
    itxt_chunk,
    read_text_chunks,
    text_chunks,
)
from faceforge.io.files import atomic_write, read_bytes

__all__ = [
    "CENTERINGS",
    "FACE_META_KEY",
    "FACE_META_VERSION",
    "encode_face_png",
    "face_filename",
    "make_face_meta",
    "parse_face_filename",
    "parse_face_meta",
    "read_face_meta",
    "read_face_png",
    "write_face_png",
]

FACE_META_VERSION = 1
FACE_META_KEY = "faceforge"
FACESWAP_META_KEY = "faceswap"
CENTERINGS = ("face", "head", "legacy")

_FACE_NAME = re.compile(r"^(?P<source>.+)_(?P<frame>\d{6,})_(?P<face>\d+)\.png$", re.IGNORECASE)
# Faceswap names video frames "<video stem>_<1-based frame:06d>.<ext>".
_FACESWAP_FRAME = re.compile(r"^(?P<stem>.+)_(?P<number>\d+)$")

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "version": int,
    "source": str,
    "frame_index": int,
    "frame_name": str,
    "face_index": int,
    "source_size": list,
    "landmarks": list,
    "matrix": list,
    "size": int,
    "centering": str,
    "coverage": (int, float),
    "tool_version": str,
}


# ---------------------------------------------------------------------------------------
# File names


def face_filename(source_stem: str, frame_index: int, face_index: int) -> str:
    """``<source>_<frame:06d>_<face>.png``, e.g. ``clip_000012_0.png``."""
    if frame_index < 0 or face_index < 0:
        raise ValueError(f"indices must be >= 0, got frame {frame_index}, face {face_index}")
    return f"{source_stem}_{frame_index:06d}_{face_index}.png"


def parse_face_filename(name: str) -> tuple[str, int, int] | None:
    """``(source_stem, frame_index, face_index)`` from a face file name, or None if not one."""
    match = _FACE_NAME.match(os.path.basename(name))
    if match is None:
        return None
    return match["source"], int(match["frame"]), int(match["face"])


# ---------------------------------------------------------------------------------------
# Metadata


def make_face_meta(
    *,
    source: str,
    frame_index: int,
    frame_name: str,
    face_index: int,
    source_size: tuple[int, int],
    landmarks: np.ndarray,
    matrix: np.ndarray,
    size: int,
    centering: str,
    coverage: float,
    tool_version: str,
) -> dict[str, Any]:
    """The metadata dict for one face image, from numpy arrays.

    ``source_size`` is (width, height) of the frame; ``landmarks`` are (68, 2) frame pixels;
    ``matrix`` is the (2, 3) affine from frame pixels to this face image's pixels.
    """
    meta = {
        "version": FACE_META_VERSION,
        "source": source,
        "frame_index": int(frame_index),
        "frame_name": frame_name,
        "face_index": int(face_index),
        "source_size": [int(v) for v in source_size],
        "landmarks": np.asarray(landmarks, np.float64).tolist(),
        "matrix": np.asarray(matrix, np.float64).tolist(),
        "size": int(size),
        "centering": centering,
        "coverage": float(coverage),
        "tool_version": tool_version,
    }
    problem = _meta_problem(meta)
    if problem:
        raise ValueError(f"invalid face metadata: {problem}")
    return meta


def _is_matrix(value: Any, rows: int, cols: int) -> bool:
    """A rows x cols nested list of finite numbers (checked per file: kept cheap)."""
    if type(value) is not list or len(value) != rows:
        return False
    if any(type(row) is not list or len(row) != cols for row in value):
        return False
    numbers = [number for row in value for number in row]
    # type() rather than isinstance(): bools are ints but not coordinates.
    if not all(type(number) is float or type(number) is int for number in numbers):
        return False
    # Any inf or nan makes the sum non-finite (so would coordinates near 1e308: also invalid).
    return math.isfinite(sum(numbers))


def _meta_problem(meta: Any) -> str | None:
    """What is wrong with a metadata dict, or None if it is valid."""
    if not isinstance(meta, dict):
        return "not a JSON object"
    for key, kind in _REQUIRED.items():
        if key not in meta:
            return f"missing {key!r}"
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            return f"{key!r} has the wrong type ({type(value).__name__})"
    if meta["frame_index"] < 0 or meta["face_index"] < 0:
        return "negative frame or face index"
    if not 0 < meta["size"] <= MAX_PNG_SIDE:
        return f"size must be between 1 and {MAX_PNG_SIDE}"
    size = meta["source_size"]
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        return "'source_size' must be [width, height]"
    if not _is_matrix(meta["landmarks"], 68, 2):
        return "'landmarks' must be 68 [x, y] pairs"
    if not _is_matrix(meta["matrix"], 2, 3):
        return "'matrix' must be a 2x3 list"
    (a, b, _), (c, d, _) = meta["matrix"]
    if not abs(a * d - b * c) > 1e-12:
        # An all-zero (or otherwise flat) matrix maps the whole frame onto a point.
        return "'matrix' is degenerate (it cannot be inverted)"
    if meta["centering"] not in CENTERINGS:
        return f"'centering' must be one of {', '.join(CENTERINGS)}"
    return None


def _validated(meta: Any, name: object) -> dict[str, Any]:
    # Version first: a newer schema may legitimately lack fields this one requires.
    version = meta.get("version") if isinstance(meta, dict) else None
    if isinstance(version, int) and version > FACE_META_VERSION:
        raise FormatError(
            f"{name} has face metadata version {version}, but this faceforge reads "
            f"versions up to {FACE_META_VERSION}",
            "upgrade faceforge to read it",
        )
    problem = _meta_problem(meta)
    if problem:
        raise FormatError(f"{name} has invalid faceforge metadata: {problem}", "re-extract it")
    return {**meta, "origin": "faceforge"}


def _meta_from_texts(texts: dict[str, str], width: int | None, name: object) -> dict[str, Any]:
    if FACE_META_KEY in texts:
        try:
            document = parse_json(texts[FACE_META_KEY])
        except JsonProblem as exc:
            raise FormatError(
                f"{name} has unreadable faceforge metadata: {exc}", "re-extract it"
            ) from None
        if not isinstance(document, dict) or FACE_META_KEY not in document:
            raise FormatError(f"{name} has invalid faceforge metadata", "re-extract it")
        return _validated(document[FACE_META_KEY], name)
    if FACESWAP_META_KEY in texts:
        return _from_faceswap(texts[FACESWAP_META_KEY], width, name)
    raise FormatError(
        f"no faceforge metadata in {name}",
        "use face images written by `faceforge extract` (or Faceswap), not edited copies",
    )


def parse_face_meta(data: bytes, name: str = "<png bytes>") -> dict[str, Any]:
    """The validated metadata of a face PNG held in memory (see :func:`read_face_meta`)."""
    texts, width = text_chunks(data, name)
    return _meta_from_texts(texts, width, name)


def read_face_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated metadata of a face PNG, read from its chunks without decoding pixels.

    Returns our schema's fields plus ``"origin"``: ``"faceforge"`` or ``"faceswap"``.
    """
    path = Path(path)
    texts, width = read_text_chunks(path)
    return _meta_from_texts(texts, width, path)


def _from_faceswap(text: str, width: int | None, name: object) -> dict[str, Any]:
    """Faceswap's header (a Python dict literal) mapped onto our fields; unknowns are None."""
    try:
        # literal_eval builds only literals: a hostile header cannot run code.
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise FormatError(
            f"{name} has unreadable Faceswap metadata", "re-extract it with faceforge"
        ) from exc
    try:
        source = header["source"]
        alignments = header["alignments"]
        landmarks = np.asarray(alignments["landmarks_xy"], np.float64)
        if landmarks.shape != (68, 2):
            raise ValueError(f"landmarks of shape {landmarks.shape}")
        frame_file = str(source["source_filename"])
        is_video = bool(source.get("source_is_video", False))
        frame_stem = os.path.splitext(frame_file)[0]
        match = _FACESWAP_FRAME.match(frame_stem) if is_video else None
        dims = source.get("source_frame_dims")  # (height, width), absent before Faceswap 2.2
        version = float(source.get("alignments_version", 1.0))
        box = [alignments[k] for k in ("x", "y", "w", "h")] if "x" in alignments else None
        meta: dict[str, Any] = {
            "version": FACE_META_VERSION,
            "origin": "faceswap",
            "source": match["stem"] if match else None,
            "frame_index": int(match["number"]) - 1 if match else None,
            "frame_name": frame_file,
            "face_index": int(source["face_index"]),
            "source_size": [int(dims[1]), int(dims[0])] if dims else None,
            "landmarks": landmarks.tolist(),
            "matrix": None,  # Faceswap recomputes it from the landmarks
            "size": width,
            # Faceswap 2.0 moved extraction to full-head crops; before it used "legacy".
            "centering": "head" if version >= 2.0 else "legacy",
            "coverage": None,
            "tool_version": f"faceswap (alignments {version})",
            "box": [box[0], box[1], box[0] + box[2], box[1] + box[3]] if box else None,
            "original_filename": source.get("original_filename"),
            "mask_names": sorted(alignments.get("mask") or {}),
            # the whole entry as Faceswap's alignments file holds it (box, masks, identity),
            # for rebuilding alignments from a faces folder
            "faceswap_alignments": alignments,
        }
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise FormatError(
            f"{name} has Faceswap metadata this reader does not understand ({exc!r})",
            "re-extract the faces with faceforge",
        ) from exc
    return meta


# ---------------------------------------------------------------------------------------
# Images


def encode_face_png(image_rgb: np.ndarray, meta: dict[str, Any], compression: int = 1) -> bytes:
    """PNG bytes of an RGB face with ``meta`` (our schema) in an iTXt chunk after IHDR."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image_rgb.dtype} "
                         f"{image_rgb.shape}")
    meta = {"version": FACE_META_VERSION, **meta}
    meta.pop("origin", None)
    problem = _meta_problem(meta)
    if problem:
        raise ValueError(f"invalid face metadata: {problem}")
    bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_PNG_COMPRESSION, int(compression)]
    if compression <= 1 and hasattr(cv2, "IMWRITE_PNG_FILTER"):
        # libpng otherwise tries all five row filters; the fast ones plus RLE roughly halve
        # the time of a 512 px face at about the same size. Higher levels keep libpng's
        # defaults: whoever asks for them wants smaller files.
        params += [
            cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FAST_FILTERS,
            cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
        ]
    ok, buffer = cv2.imencode(".png", bgr, params)
    if not ok:
        raise ValueError(f"cv2 could not PNG-encode an image of shape {image_rgb.shape}")
    png = buffer.tobytes()
    text = json.dumps({FACE_META_KEY: meta}, ensure_ascii=False, separators=(",", ":"))
    return insert_after_ihdr(png, itxt_chunk(FACE_META_KEY, text))


def write_face_png(
    path: str | os.PathLike[str],
    image_rgb: np.ndarray,
    meta: dict[str, Any],
    compression: int = 1,
    durable: bool = True,
) -> None:
    """Write a face PNG atomically: a reader never sees a half-written file.

    durable=False skips the fsync: the file still appears whole or not at all to any reader and
    survives the writer being killed, only not a power cut. Extraction uses it, because a
    per-face fsync costs more than the rest of the pipeline and a rerun redoes lost frames.
    """
    path = Path(path)
    data = encode_face_png(image_rgb, meta, compression)
    try:
        atomic_write(path, data, durable=durable)
    except OutputError as exc:
        cause = exc.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else exc.message
        raise OutputError(f"cannot write face image {path}: {reason}", exc.hint) from cause


def read_face_png(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """The RGB pixels (HxWx3 uint8) and validated metadata of a face PNG."""
    path = Path(path)
    data = read_bytes(path, "face image")
    meta = parse_face_meta(data, str(path))
    bgr = decode_png(data, cv2.IMREAD_COLOR, path, "face image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), meta
