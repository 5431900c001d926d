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
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceforge.errors import FormatError, InputError, OutputError

__all__ = [
    "CENTERINGS",
    "FACE_META_KEY",
    "FACE_META_VERSION",
    "encode_face_png",
    "encode_gray_png",
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

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"iTXt", b"tEXt", b"zTXt")
# Metadata is a few kB; anything far larger is not ours and is not worth reading.
_MAX_TEXT_CHUNK = 16 * 1024 * 1024
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
# PNG chunks


def png_chunk(chunk_type: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC over type and data."""
    crc = zlib.crc32(data, zlib.crc32(chunk_type))
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", crc)


def _itxt_chunk(keyword: str, text: str) -> bytes:
    # keyword NUL, compression flag 0, method 0, empty language tag NUL, empty translation NUL.
    body = keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
    return png_chunk(b"iTXt", body)


def encode_gray_png(image: np.ndarray, compression: int = 1) -> bytes:
    """A single-channel uint8 image as PNG, several times faster than ``cv2.imencode``.

    Every row uses PNG's "up" filter (difference to the row above): for masks, flat areas and
    soft edges become runs of zeros that zlib compresses quickly and well.
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 image, got {image.dtype} {image.shape}")
    height, width = image.shape
    rows = np.empty((height, width + 1), np.uint8)
    rows[:, 0] = 2  # filter type "up"; the row above the first counts as zeros
    rows[0, 1:] = image[0]
    np.subtract(image[1:], image[:-1], out=rows[1:, 1:])  # uint8 wraps mod 256, as PNG wants
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"".join((
        PNG_SIGNATURE,
        png_chunk(b"IHDR", header),
        png_chunk(b"IDAT", zlib.compress(rows.tobytes(), compression)),
        png_chunk(b"IEND", b""),
    ))


def _text_chunks(data: bytes, name: object) -> tuple[dict[str, str], int | None]:
    """Every text chunk (keyword -> text) of a PNG in memory, and its width from IHDR."""
    if not data.startswith(PNG_SIGNATURE):
        raise FormatError(f"{name} is not a PNG file", "face images must be PNG files")
    texts: dict[str, str] = {}
    width = None
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, chunk_type = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            if chunk_type in _TEXT_CHUNKS:
                raise FormatError(f"{name} is a truncated PNG", "re-extract the face")
            break  # cut inside the pixels: the metadata before them is still good
        body = data[pos + 8:pos + 8 + length]
        if chunk_type == b"IHDR" and length >= 8:
            width = struct.unpack(">I", body[:4])[0]
        elif chunk_type in _TEXT_CHUNKS:
            _check_crc(data[pos + 4:end], name)
            keyword, text = _decode_text_chunk(chunk_type, body, name)
            texts.setdefault(keyword, text)
        elif chunk_type == b"IEND":
            break
        pos = end
    return texts, width


def _read_text_chunks(path: Path) -> tuple[dict[str, str], int | None]:
    """Like :func:`_text_chunks` but seeks past image data instead of reading it."""
    texts: dict[str, str] = {}
    width = None
    try:
        with open(path, "rb") as handle:
            if handle.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                raise FormatError(f"{path} is not a PNG file", "face images must be PNG files")
            while True:
                head = handle.read(8)
                if len(head) < 8:
                    break
                length, chunk_type = struct.unpack(">I4s", head)
                if chunk_type == b"IEND":
                    break
                if chunk_type == b"IHDR" or (
                    chunk_type in _TEXT_CHUNKS and length <= _MAX_TEXT_CHUNK
                ):
                    body = handle.read(length + 4)
                    if len(body) < length + 4:
                        raise FormatError(f"{path} is a truncated PNG", "re-extract the face")
                    body, crc = body[:length], body[length:]
                    if chunk_type == b"IHDR":
                        width = struct.unpack(">I", body[:4])[0] if length >= 8 else None
                        continue
                    _check_crc(chunk_type + body + crc, path)
                    keyword, text = _decode_text_chunk(chunk_type, body, path)
                    texts.setdefault(keyword, text)
                else:
                    handle.seek(length + 4, os.SEEK_CUR)
    except FileNotFoundError as exc:
        raise InputError(f"face image {path} not found", "check the faces folder") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path} is a folder, not a face image", "pass a PNG file") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", "check its permissions") from exc
    return texts, width


def _check_crc(type_data_crc: bytes, name: object) -> None:
    expected = struct.unpack(">I", type_data_crc[-4:])[0]
    if zlib.crc32(type_data_crc[:-4]) != expected:
        raise FormatError(f"{name} has a damaged metadata chunk (bad CRC)", "re-extract the face")


def _decode_text_chunk(chunk_type: bytes, body: bytes, name: object) -> tuple[str, str]:
    keyword, sep, rest = body.partition(b"\x00")
    try:
        if chunk_type == b"tEXt":
            return keyword.decode("latin-1"), rest.decode("latin-1")
        if chunk_type == b"zTXt":
            return keyword.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
        compressed = rest[:1] == b"\x01"
        # Skip compression method, then the language tag and translated keyword (NUL-ended).
        _language, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        if compressed:
            text = zlib.decompress(text)
        return keyword.decode("latin-1"), text.decode("utf-8")
    except (zlib.error, UnicodeDecodeError) as exc:
        raise FormatError(
            f"{name} has an unreadable {chunk_type.decode()} chunk: {exc}", "re-extract the face"
        ) from exc


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
    if meta["size"] <= 0:
        return "size must be positive"
    size = meta["source_size"]
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        return "'source_size' must be [width, height]"
    if not _is_matrix(meta["landmarks"], 68, 2):
        return "'landmarks' must be 68 [x, y] pairs"
    if not _is_matrix(meta["matrix"], 2, 3):
        return "'matrix' must be a 2x3 list"
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
            document = json.loads(texts[FACE_META_KEY])
        except json.JSONDecodeError as exc:
            raise FormatError(
                f"{name} has unreadable faceforge metadata: {exc}", "re-extract it"
            ) from exc
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
    texts, width = _text_chunks(data, name)
    return _meta_from_texts(texts, width, name)


def read_face_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated metadata of a face PNG, read from its chunks without decoding pixels.

    Returns our schema's fields plus ``"origin"``: ``"faceforge"`` or ``"faceswap"``.
    """
    path = Path(path)
    texts, width = _read_text_chunks(path)
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
    # Signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC) = 33 bytes.
    if png[12:16] != b"IHDR":
        raise ValueError("cv2 produced a PNG without a leading IHDR chunk")
    text = json.dumps({FACE_META_KEY: meta}, ensure_ascii=False, separators=(",", ":"))
    return png[:33] + _itxt_chunk(FACE_META_KEY, text) + png[33:]


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
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise OutputError(
            f"cannot write face image {path}: {exc.strerror}",
            "check that the faces folder exists, is writable and the disk is not full",
        ) from exc


def read_face_png(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """The RGB pixels (HxWx3 uint8) and validated metadata of a face PNG."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"face image {path} not found", "check the faces folder") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", "check its permissions") from exc
    meta = parse_face_meta(data, str(path))
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FormatError(f"{path} has damaged image data", "re-extract the face")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), meta
