"""What an alignments store holds, as Python objects: processed frames and the faces found in
them, and the portable bytes their arrays and masks are stored as."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from faceforge.formats.png_chunks import MAX_PNG_SIDE, encode_gray_png, png_dimensions

LANDMARK_COUNT = 68
IDENTITY_SIZE = 128

# Fixed little-endian dtypes keep stored arrays portable across machines.
F32 = np.dtype("<f4")
F64 = np.dtype("<f8")


@dataclass
class FaceRecord:
    """One face found in one frame."""

    face_index: int
    box: tuple[float, float, float, float]  # left, top, right, bottom in frame px
    score: float
    landmarks: np.ndarray  # (68, 2) float32, frame px
    matrix: np.ndarray  # (2, 3) float64, frame px -> unit face space
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (H, W) uint8
    identity: np.ndarray | None = None  # (128,) float32
    thumbnail: bytes | None = None  # JPEG
    detector: str = ""
    landmarker: str = ""


@dataclass
class FrameRecord:
    """One processed frame and the faces found in it (possibly none)."""

    index: int
    name: str
    width: int
    height: int
    timestamp_s: float | None = None
    faces: list[FaceRecord] = field(default_factory=list)


def _blob(array: np.ndarray, dtype: np.dtype) -> bytes:
    """`array` as the raw bytes of `dtype` (one of the fixed little-endian dtypes above)."""
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


class DamagedRecord(ValueError):
    """A stored row that cannot be what faceforge wrote: the file is damaged or forged."""


def _array(blob: object, dtype: np.dtype, shape: tuple[int, ...], what: str) -> np.ndarray:
    """The array `_blob` stored, writable and in native byte order; raises `DamagedRecord`
    when `blob` is not bytes of exactly that many values."""
    expected = int(np.prod(shape)) * dtype.itemsize
    if not isinstance(blob, bytes) or len(blob) != expected:
        size = f"{len(blob)} bytes" if isinstance(blob, bytes) else type(blob).__name__
        raise DamagedRecord(f"{what} holds {size} instead of {expected} bytes")
    array = np.frombuffer(blob, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    if not np.isfinite(array).all():
        raise DamagedRecord(f"{what} holds values that are not finite numbers")
    return array


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DamagedRecord(f"{what} is {type(value).__name__}, not a number")
    return float(value)


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DamagedRecord(f"{what} is {value!r}, not a count")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise DamagedRecord(f"{what} is {type(value).__name__}, not text")
    return value


def frame_from_row(row: tuple[Any, ...]) -> FrameRecord:
    """The frame (without faces) a row of the ``frames`` table describes; raises
    `DamagedRecord` for values of the wrong type."""
    index, name, width, height, timestamp_s = row
    where = f"frame {index!r}"
    return FrameRecord(
        index=_integer(index, "a frame index"),
        name=_text(name, f"{where}'s name"),
        width=_integer(width, f"{where}'s width"),
        height=_integer(height, f"{where}'s height"),
        timestamp_s=None if timestamp_s is None else _number(timestamp_s, f"{where}'s time"),
    )


def encode_mask(mask: np.ndarray) -> bytes:
    """A (H, W) uint8 mask as single-channel PNG bytes."""
    # Level 1: masks are mostly flat, so fast compression already gets most of the gain.
    return encode_gray_png(mask, 1)


def decode_mask(png: bytes) -> np.ndarray | None:
    """The mask `encode_mask` stored, or None if `png` is not a single-channel PNG."""
    size = png_dimensions(png) if isinstance(png, bytes) else None
    if size is None or not (0 < size[0] <= MAX_PNG_SIDE and 0 < size[1] <= MAX_PNG_SIDE):
        return None
    try:
        mask = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if mask is None or mask.ndim != 2:
        return None
    return mask


def face_row(frame_index: int, face: FaceRecord) -> tuple[Any, ...]:
    """The face as a row of the ``faces`` table (columns in schema order).

    Raises ValueError naming the face if any of its arrays has the wrong shape or type.
    """
    _check_face(face, frame_index)
    left, top, right, bottom = (float(v) for v in face.box)
    return (
        frame_index, face.face_index, left, top, right, bottom, float(face.score),
        _blob(face.landmarks, F32), _blob(face.matrix, F64),
        face.detector, face.landmarker,
        None if face.identity is None else _blob(face.identity, F32),
        None if face.thumbnail is None else bytes(face.thumbnail),
    )


def face_from_row(row: tuple[Any, ...], masks: dict[str, np.ndarray]) -> FaceRecord:
    """The face a `face_row` row describes, with its decoded `masks`.

    Raises `DamagedRecord` naming the face when a value has the wrong type or size, as in a
    damaged or forged file.
    """
    (frame_index, face_index, left, top, right, bottom, score, landmarks, matrix,
     detector, landmarker, identity, thumbnail) = row
    where = f"frame {frame_index!r} face {face_index!r}"
    return FaceRecord(
        face_index=_integer(face_index, f"{where}'s index"),
        box=tuple(_number(v, f"{where}'s box") for v in (left, top, right, bottom)),
        score=_number(score, f"{where}'s score"),
        landmarks=_array(landmarks, F32, (LANDMARK_COUNT, 2), f"{where}'s landmarks"),
        matrix=_array(matrix, F64, (2, 3), f"{where}'s matrix"),
        masks=masks,
        identity=None if identity is None
        else _array(identity, F32, (IDENTITY_SIZE,), f"{where}'s identity"),
        thumbnail=None if thumbnail is None
        else (thumbnail if isinstance(thumbnail, bytes) else b""),
        detector=_text(detector, f"{where}'s detector"),
        landmarker=_text(landmarker, f"{where}'s landmarker"),
    )


def _check_face(face: FaceRecord, frame_index: int) -> None:
    where = f"frame {frame_index} face {face.face_index}"
    if np.shape(face.landmarks) != (LANDMARK_COUNT, 2):
        raise ValueError(f"{where}: landmarks must be (68, 2), got {np.shape(face.landmarks)}")
    if np.shape(face.matrix) != (2, 3):
        raise ValueError(f"{where}: matrix must be (2, 3), got {np.shape(face.matrix)}")
    if len(face.box) != 4:
        raise ValueError(f"{where}: box must be (left, top, right, bottom)")
    if face.identity is not None and np.shape(face.identity) != (IDENTITY_SIZE,):
        raise ValueError(f"{where}: identity must be (128,), got {np.shape(face.identity)}")
    for name, mask in face.masks.items():
        if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != np.uint8:
            raise ValueError(f"{where}: mask {name!r} must be a 2-D uint8 array")
