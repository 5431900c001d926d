"""What an alignments store holds, as Python objects: processed frames and the faces found in
them, and the portable bytes their arrays and masks are stored as."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from faceforge.formats.png_chunks import encode_gray_png

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


def _array(blob: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """The array `_blob` stored, writable and in native byte order."""
    return np.frombuffer(blob, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def encode_mask(mask: np.ndarray) -> bytes:
    """A (H, W) uint8 mask as single-channel PNG bytes."""
    # Level 1: masks are mostly flat, so fast compression already gets most of the gain.
    return encode_gray_png(mask, 1)


def decode_mask(png: bytes) -> np.ndarray | None:
    """The mask `encode_mask` stored, or None if `png` is not a single-channel PNG."""
    mask = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
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
    """The face a `face_row` row describes, with its decoded `masks`."""
    (_frame_index, face_index, left, top, right, bottom, score, landmarks, matrix,
     detector, landmarker, identity, thumbnail) = row
    return FaceRecord(
        face_index=face_index,
        box=(left, top, right, bottom),
        score=score,
        landmarks=_array(landmarks, F32, (LANDMARK_COUNT, 2)),
        matrix=_array(matrix, F64, (2, 3)),
        masks=masks,
        identity=None if identity is None else _array(identity, F32, (IDENTITY_SIZE,)),
        thumbnail=None if thumbnail is None else bytes(thumbnail),
        detector=detector,
        landmarker=landmarker,
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
