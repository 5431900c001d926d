"""Faceswap's alignments files (``.fsa``), read without ever running code from them.

A ``.fsa`` file is a zlib-compressed pickle of plain data: ``{"__meta__": {"version": 2.4},
"__data__": {frame key: {"faces": [face, ...], "video_meta": {...}}}}``. Faceswap 2.4 writes
lists where older versions wrote numpy arrays. Unpickling normally calls whatever the file
names, so here the unpickler can reach only faceforge's own builders: numpy arrays of plain
numbers and a few containers. A file that names anything else (``os.system``,
``builtins.eval``, ...) is refused with one line before anything of it is called.

This module also maps a Faceswap document to and from alignments store records, and converts
whole files (`fsa_to_store`, `store_to_fsa`, `read_fsa_frames`).

Why one file of about 750 lines: the allow-list reader (first half) and the mapping (second
half) are the whole of one foreign format, and what the reader may build is exactly what the
mapping reads; keeping them side by side keeps that allow-list reviewable in one place.
"""

from __future__ import annotations

import io
import logging
import math
import os
import pickle
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceforge.core import geometry
from faceforge.errors import FormatError
from faceforge.formats.alignments.records import LANDMARK_COUNT, FaceRecord, FrameRecord
from faceforge.io.files import (
    atomic_write,
    read_bytes,
)

log = logging.getLogger(__name__)

#: The Faceswap alignments version this module writes (Faceswap 2.4's layout).
FSA_VERSION = 2.4
#: Versions before 2.0 used a different face crop; Faceswap itself no longer reads them.
FSA_OLDEST_VERSION = 2.0
#: A real alignments file is tens of MB unpacked; refuse to unpack more than this.
MAX_UNPACKED_BYTES = 4 << 30
#: Faceswap's landmark masks are stored at 128 px; ours are too (pipeline.extract.MASK_SIZE).
MASK_SIZE = 128
#: the centering our stored masks are drawn in
MASK_CENTERING = "head"

_HINT = "export it again with Faceswap, or re-extract the video with `faceforge extract`"
_VIDEO_KEY = re.compile(r"^(?P<stem>.+)_(?P<number>\d+)(?P<ext>\.[A-Za-z0-9]+)?$")
_VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg",
                     ".wmv", ".flv", ".gif", ".ts", ".3gp")


# ---------------------------------------------------------------------------------------
# The allow-list unpickler


class UnsafePickle(pickle.UnpicklingError):
    """The pickle asks for something that is not plain data."""


class _Marker:
    """Stands for an allowed global that is only ever an argument, never called."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_NDARRAY = _Marker("numpy.ndarray")
#: dtype kinds an alignments file can hold: bool, signed/unsigned ints, floats, complex
_NUMBER_KINDS = "biufc"


class _DtypeStub:
    """numpy.dtype(spec, align, copy) as pickled; its byte order arrives with BUILD."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True) -> None:
        if not isinstance(spec, str) or len(spec) > 8:
            raise UnsafePickle(f"a numpy dtype of {type(spec).__name__} {spec!r:.40}")
        try:
            dtype = np.dtype(spec)
        except TypeError as exc:
            raise UnsafePickle(f"numpy dtype {spec!r}") from exc
        if dtype.kind not in _NUMBER_KINDS or dtype.fields is not None or dtype.subdtype:
            raise UnsafePickle(f"numpy dtype {spec!r}: only plain numbers are read")
        self.dtype = dtype

    def __setstate__(self, state: Any) -> None:
        # (version, byte order, subarray, names, fields, elsize, alignment, flags)
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in "<>|=":
            raise UnsafePickle("a numpy dtype with an unexpected state")
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


def _as_dtype(value: Any) -> np.dtype:
    if not isinstance(value, _DtypeStub):
        raise UnsafePickle(f"numpy data typed as {type(value).__name__}")
    return value.dtype


def _array_from(data: Any, dtype: np.dtype, shape: Any, fortran: bool) -> np.ndarray:
    if isinstance(data, str):  # Python 2 pickles carry the bytes as a latin-1 string
        data = data.encode("latin-1")
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickle(f"numpy array data of type {type(data).__name__}")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise UnsafePickle("a numpy array with an invalid shape")
    count = math.prod(shape)
    if count * dtype.itemsize != len(data):
        raise UnsafePickle(f"a numpy array of shape {shape} with {len(data)} bytes of data")
    flat = np.frombuffer(bytes(data), dtype=dtype, count=count)
    return flat.reshape(shape, order="F" if fortran else "C").copy()


class _ArrayStub:
    """numpy's _reconstruct(ndarray, (0,), b'b') as pickled; the data arrives with BUILD."""

    def __init__(self) -> None:
        self.value: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafePickle("a numpy array with an unexpected state")
        if len(state) == 5:
            state = state[1:]  # drop the state version
        shape, dtype, fortran, data = state
        self.value = _array_from(data, _as_dtype(dtype), shape, bool(fortran))


def _reconstruct(subtype: Any, shape: Any = None, dtype_code: Any = None) -> _ArrayStub:
    if subtype is not _NDARRAY:
        raise UnsafePickle(f"a numpy array subclass {subtype!r:.60}")
    return _ArrayStub()


def _scalar(dtype: Any, data: Any = b"") -> Any:
    return _array_from(data, _as_dtype(dtype), (), False)[()]


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any = "C") -> np.ndarray:
    # numpy's protocol 5 form: the raw buffer travels in-band as bytes or bytearray.
    return _array_from(buffer, _as_dtype(dtype), tuple(shape), order == "F")


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # numpy arrays pickled for Python 2 carry their bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickle("_codecs.encode of anything but a latin-1 string")
    return text.encode("latin-1")


def _ordered_dict(items: Any = ()) -> dict:
    if items:
        raise UnsafePickle("an OrderedDict built from arguments")
    return {}


#: (module, name) -> what the unpickler gets in place of that global. Nothing else is reachable.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DtypeStub,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _encode,
    ("collections", "OrderedDict"): _ordered_dict,
}


class _PlainDataUnpickler(pickle.Unpickler):
    """An unpickler whose every global is one of faceforge's builders (see _ALLOWED)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickle(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickle("an external object (persistent id)")


def _resolve(root: Any) -> Any:
    """`root` with every numpy placeholder replaced by its array, shared parts kept shared.

    Iterative, and each container is visited once, so neither deep nesting nor a structure
    that refers to itself many times can exhaust the stack or the time.
    """
    done: dict[int, Any] = {}
    pending: list[tuple[Any, bool]] = [(root, False)]
    while pending:
        item, children_done = pending.pop()
        key = id(item)
        if key in done:
            continue
        if isinstance(item, (_ArrayStub, _DtypeStub, _Marker)):
            if not isinstance(item, _ArrayStub) or item.value is None:
                raise UnsafePickle(f"an unfinished or stray {type(item).__name__.strip('_')}")
            done[key] = item.value
        elif isinstance(item, dict):
            if not children_done:
                pending.append((item, True))
                pending.extend((v, False) for v in item.values() if id(v) not in done)
                continue
            for k, v in item.items():
                item[k] = done.get(id(v), v)
            done[key] = item
        elif isinstance(item, list):
            if not children_done:
                pending.append((item, True))
                pending.extend((v, False) for v in item if id(v) not in done)
                continue
            item[:] = [done.get(id(v), v) for v in item]
            done[key] = item
        elif isinstance(item, tuple):
            if not children_done:
                pending.append((item, True))
                pending.extend((v, False) for v in item if id(v) not in done)
                continue
            done[key] = tuple(done.get(id(v), v) for v in item)
        elif isinstance(item, (bytearray,)):
            done[key] = bytes(item)
        else:
            done[key] = item
    return done[id(root)]


def loads_plain_data(payload: bytes, name: object = "<pickle>") -> Any:
    """The plain data (dicts, lists, numbers, strings, bytes, numpy arrays) of a pickle.

    Raises FormatError for a pickle that asks for anything else; nothing it names is called.
    """
    unpickler = _PlainDataUnpickler(io.BytesIO(payload), encoding="latin1")
    try:
        data = _resolve(unpickler.load())
    except UnsafePickle as exc:
        raise FormatError(
            f"{name} is not a plain-data alignments file: it asks for {exc}, which faceforge "
            "never runs or builds; nothing from it was used",
            "only load .fsa files written by Faceswap or faceforge",
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, MemoryError, RecursionError, OverflowError) as exc:
        raise FormatError(f"{name} is a damaged alignments file ({type(exc).__name__}: "
                          f"{str(exc)[:80]})", _HINT) from None
    return data


def _unpack(data: bytes, name: object) -> bytes:
    unpacker = zlib.decompressobj()
    try:
        payload = unpacker.decompress(data, MAX_UNPACKED_BYTES)
    except zlib.error as exc:
        raise FormatError(f"{name} is not a Faceswap alignments file (not zlib data: {exc})",
                          "pass a .fsa file written by Faceswap's extract") from None
    if unpacker.unconsumed_tail:
        raise FormatError(f"{name} unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB",
                          "this is not an alignments file faceforge can read")
    if not unpacker.eof:
        raise FormatError(f"{name} is truncated", _HINT)
    return payload


def read_fsa(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The document of a ``.fsa`` file: ``{"__meta__": {...}, "__data__": {...}}``, checked.

    Raises InputError for a missing file and FormatError for anything that is not a Faceswap
    alignments file of version 2.0 or later (hostile pickles included).
    """
    path = Path(path)
    return parse_fsa(read_bytes(path, "alignments file"), path)


def parse_fsa(data: bytes, name: object = "<fsa bytes>") -> dict[str, Any]:
    """`read_fsa` for bytes in memory."""
    document = loads_plain_data(_unpack(data, name), name)
    if not isinstance(document, dict) or not isinstance(document.get("__data__"), dict):
        raise FormatError(f"{name} is not a Faceswap alignments file (no '__data__' table)",
                          _HINT)
    meta = document.get("__meta__", {"version": 1.0})
    version = meta.get("version") if isinstance(meta, dict) else None
    if not isinstance(version, (int, float)) or version < FSA_OLDEST_VERSION:
        raise FormatError(
            f"{name} is a Faceswap alignments file of version {version}, from before "
            "Faceswap 2.0's face crops",
            "update it with the alignments tool of Faceswap 2.3, or re-extract the video",
        )
    return document


def encode_fsa(document: dict[str, Any]) -> bytes:
    """The bytes of a ``.fsa`` file holding `document` (plain Python data only)."""
    _check_plain(document)
    # Protocol 4 is what Faceswap's own Python writes by default, so any Faceswap reads it.
    return zlib.compress(pickle.dumps(document, protocol=4))


def write_fsa(path: str | os.PathLike[str], document: dict[str, Any]) -> None:
    """Write `document` as a ``.fsa`` file, atomically. Raises OutputError naming the file."""
    atomic_write(path, encode_fsa(document))


def _check_plain(root: Any) -> None:
    """Refuse to write anything a plain-data reader could not read back."""
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif item is not None and not isinstance(item, (str, bytes, bool, int, float)):
            raise TypeError(f"not plain data: {type(item).__name__}")


# ---------------------------------------------------------------------------------------
# Faceswap document <-> alignments records


def _number_list(value: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not numbers") from exc
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} holds non-finite numbers")
    return array


def _frame_layout(keys: list[str], source: Any) -> tuple[str, dict[str, int], str | None]:
    """("video" or "images", frame key -> 0-based index, the video's stem or None)."""
    matches = [_VIDEO_KEY.match(key) for key in keys]
    if source is not None and source.kind == "video":
        bad = [key for key, m in zip(keys, matches, strict=True)
               if m is None or m["stem"] != source.stem]
        if bad:
            raise FormatError(f"frame {bad[0]!r} of the alignments file is not a frame of "
                              f"{source.path}", "pass the video the file was made from")
        return "video", {k: int(m["number"]) - 1 for k, m in zip(keys, matches, strict=True)}, \
            source.stem
    stems = {m["stem"] for m in matches if m is not None}
    # Faceswap 2.4 ends a video frame's key with the video's extension, older versions with
    # ".png"; frames of an image folder keep their own file names.
    looks_like_video = (
        source is None and bool(keys) and all(m is not None for m in matches)
        and len(stems) == 1
        and (all((m["ext"] or "").lower() in _VIDEO_EXTENSIONS for m in matches)
             or all(len(m["number"]) == 6 and (m["ext"] or "").lower() == ".png"
                    for m in matches))
    )
    if looks_like_video:
        return "video", {k: int(m["number"]) - 1 for k, m in zip(keys, matches, strict=True)}, \
            stems.pop()
    from faceforge.io.source import natural_sort_key

    names = source.names if source is not None else sorted(keys, key=natural_sort_key)
    position = {name: i for i, name in enumerate(names)}
    missing = [key for key in keys if key not in position]
    if missing:
        raise FormatError(f"frame {missing[0]!r} of the alignments file is not in {source.path}",
                          "pass the image folder the file was made from")
    return "images", {key: position[key] for key in keys}, None


def _key_extension(keys: list[str]) -> str | None:
    """The extension every video frame key ends with, if they share one."""
    found = {(m["ext"] or "") if m else None for m in map(_VIDEO_KEY.match, keys)}
    return found.pop() if len(found) == 1 and None not in found else None


def _mask_to_store(entry: dict[str, Any], our_matrix: np.ndarray) -> np.ndarray:
    """A Faceswap mask (any size, centering and matrix) drawn in our mask space."""
    size = int(entry["stored_size"])
    if not 0 < size <= 4096:
        raise ValueError(f"mask size {size}")
    packed = entry["mask"]
    if isinstance(packed, np.ndarray):
        packed = packed.tobytes()
    raw = zlib.decompressobj().decompress(bytes(packed), size * size + 1)
    if len(raw) != size * size:
        raise ValueError(f"mask of {len(raw)} bytes for {size}x{size}")
    mask = np.frombuffer(raw, np.uint8).reshape(size, size)
    theirs = _number_list(entry["affine_matrix"], "mask matrix").reshape(-1, 3)[:2]
    if size == MASK_SIZE and np.allclose(theirs, our_matrix, rtol=0, atol=1e-9):
        return mask.copy()
    # Our mask pixel -> frame -> their mask pixel, sampled in one warp.
    ours_to_theirs = geometry.to_homogeneous(theirs) @ geometry.to_homogeneous(
        geometry.invert(our_matrix))
    return cv2.warpAffine(mask, ours_to_theirs[:2], (MASK_SIZE, MASK_SIZE),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _jpeg_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    array = np.asarray(value)
    if array.ndim != 1 or (array.size and (array.min() < 0 or array.max() > 255)):
        raise ValueError("thumbnail is not JPEG bytes")
    return array.astype(np.uint8).tobytes()


class _NotSixtyEight(ValueError):
    """A face with another landmark layout (Faceswap also stores 4-point ROI faces)."""


def _face_from_fsa(face: dict[str, Any], face_index: int, extra: list | None,
                   foreign_ids: dict[str, list[float]]) -> FaceRecord:
    landmarks = _number_list(face.get("landmarks_xy", face.get("landmarksXY")), "landmarks")
    if landmarks.shape != (LANDMARK_COUNT, 2):
        raise _NotSixtyEight(f"{landmarks.size // 2} landmarks instead of {LANDMARK_COUNT}")
    landmarks_32 = landmarks.astype(np.float32)
    x, y, w, h = (float(face[k]) for k in ("x", "y", "w", "h"))
    box = (x, y, x + w, y + h)
    score, detector, landmarker = 1.0, "", ""
    matrix = geometry.legacy_matrix(landmarks_32)
    if extra is not None:
        box = tuple(float(v) for v in extra[0])  # type: ignore[assignment]
        score, detector, landmarker = float(extra[1]), str(extra[2]), str(extra[3])
        matrix = np.asarray(extra[4], np.float64).reshape(2, 3)
    mask_matrix = geometry.aligned_matrix(matrix, MASK_SIZE, MASK_CENTERING)
    masks = {str(name): _mask_to_store(entry, mask_matrix)
             for name, entry in (face.get("mask") or {}).items()}
    identity = None
    for name, vector in (face.get("identity") or {}).items():
        values = _number_list(vector, f"identity {name!r}").ravel()
        if name == "dlib" and values.shape == (128,):
            identity = values.astype(np.float32)
        else:
            foreign_ids[str(name)] = values.astype(np.float32).tolist()
    return FaceRecord(face_index=face_index, box=box, score=score,  # type: ignore[arg-type]
                      landmarks=landmarks_32, matrix=matrix, masks=masks, identity=identity,
                      thumbnail=_jpeg_bytes(face.get("thumb")), detector=detector,
                      landmarker=landmarker)


def face_record_from_faceswap(face: dict[str, Any], face_index: int,
                              name: object = "<face>") -> FaceRecord:
    """One face as Faceswap's alignments entry holds it (also a Faceswap face PNG's header)
    as a store record; identities other than a dlib descriptor are dropped."""
    try:
        return _face_from_fsa(face, face_index, None, {})
    except (KeyError, TypeError, ValueError, IndexError, zlib.error, cv2.error) as exc:
        raise FormatError(f"{name}: face {face_index} is not a Faceswap face entry "
                          f"({type(exc).__name__}: {exc})", _HINT) from None


def frames_from_fsa(
    document: dict[str, Any], name: object = "<fsa>", source: SourceFacts | None = None
) -> tuple[dict[str, Any], list[FrameRecord]]:
    """Store metadata and frame records from a Faceswap document (see `read_fsa`).

    `source` (see `source_facts`) gives frame sizes and times and settles how frame keys map
    to indices; without it, keys like ``clip_000001.mp4`` are taken as video frames and
    anything else as images in natural order. Faceswap keeps no detector score (1.0 here) nor
    frame size (0 without a source). What only Faceswap uses (its identities such as
    vggface2, video timestamps, its frame key suffix) is kept in the metadata under
    "faceswap", so exporting again gives it back.
    """
    data = document["__data__"]
    extras = document["__meta__"].get("faceforge")
    extras = extras if isinstance(extras, dict) else {}
    extra_frames = extras.get("frames") if isinstance(extras.get("frames"), dict) else {}
    keys = list(data)
    kind, indices, stem = _frame_layout(keys, source)
    if len(set(indices.values())) != len(indices):
        raise FormatError(f"{name} names the same frame twice", _HINT)
    faceswap: dict[str, Any] = {"identities": {}, "video_meta": {}}
    if kind == "video":
        faceswap["key_extension"] = _key_extension(keys) or ""
    frames, skipped = [], 0
    for key in keys:
        index = indices[key]
        entry = data[key]
        if isinstance(entry, list):  # before Faceswap 2.0 a frame was only its list of faces
            entry = {"faces": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("faces", []), list):
            raise FormatError(f"{name}: frame {key!r} is not a frame entry", _HINT)
        faces_in = entry.get("faces", [])
        extra = extra_frames.get(key) if isinstance(extra_frames.get(key), dict) else {}
        face_extras = extra.get("faces")
        if not isinstance(face_extras, list) or len(face_extras) != len(faces_in):
            face_extras = [None] * len(faces_in)
        faces = []
        for face_index, (face, face_extra) in enumerate(zip(faces_in, face_extras,
                                                            strict=True)):
            foreign: dict[str, list[float]] = {}
            try:
                if not isinstance(face, dict):
                    raise ValueError("not a face entry")
                if not _extra_matches(face, face_extra):
                    face_extra = None
                faces.append(_face_from_fsa(face, face_index, face_extra, foreign))
            except _NotSixtyEight as exc:
                skipped += 1
                log.warning("%s: frame %s face %d skipped: %s", name, key, face_index, exc)
                continue
            except (KeyError, TypeError, ValueError, IndexError, zlib.error, cv2.error) as exc:
                raise FormatError(f"{name}: frame {key!r} face {face_index} is invalid "
                                  f"({type(exc).__name__}: {exc})", _HINT) from None
            if foreign:
                faceswap["identities"][f"{index}/{face_index}"] = foreign
        video_meta = entry.get("video_meta")
        if isinstance(video_meta, dict) and video_meta:
            faceswap["video_meta"][str(index)] = {str(k): _plain(v) for k, v in video_meta.items()}
        frames.append(_frame_record(key, index, kind, stem, extra, faces, source))
    frames.sort(key=lambda frame: frame.index)
    meta = dict(extras["meta"]) if isinstance(extras.get("meta"), dict) else {}
    meta.setdefault("source_kind", kind)
    if source is not None:
        meta.setdefault("source_path", str(source.path))
        meta.setdefault("frame_count", source.frame_count)
        if source.fps:
            meta.setdefault("fps", source.fps)
    if skipped:
        faceswap["skipped_faces"] = skipped
    meta["faceswap"] = faceswap
    return meta, frames


def _frame_record(key: str, index: int, kind: str, stem: str | None, extra: dict[str, Any],
                  faces: list[FaceRecord], source: SourceFacts | None) -> FrameRecord:
    if extra.get("index") == index and isinstance(extra.get("name"), str):
        timestamp = extra.get("timestamp_s")
        return FrameRecord(index=index, name=extra["name"], width=int(extra["width"]),
                           height=int(extra["height"]),
                           timestamp_s=None if timestamp is None else float(timestamp),
                           faces=faces)
    if kind == "video":
        width, height = (source.width, source.height) if source is not None else (0, 0)
        fps = source.fps if source is not None else None
        return FrameRecord(index=index, name=f"{stem}_{index:06d}", width=width, height=height,
                           timestamp_s=index / fps if fps else None, faces=faces)
    width, height = source.size_of(key) if source is not None else (0, 0)
    return FrameRecord(index=index, name=key, width=width, height=height, faces=faces)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _extra_matches(face: dict[str, Any], extra: Any) -> bool:
    """Whether faceforge's note about a face still describes it (Faceswap may have edited it)."""
    if extra is None:
        return False
    try:
        left, top, right, bottom = (float(v) for v in extra[0])
        return (len(extra) == 5
                and round(left) == int(face["x"]) and round(top) == int(face["y"])
                and round(right - left) == int(face["w"]) and round(bottom - top) == int(face["h"]))
    except (TypeError, ValueError, KeyError, IndexError):
        return False


def _fsa_key(frame: FrameRecord, video_ext: str | None) -> str:
    """Faceswap's key for a frame: ``<video stem>_<1-based frame:06d><ext>``, or for an image
    folder the image's file name."""
    match = _VIDEO_KEY.match(frame.name)
    if video_ext is not None and match is not None and match["ext"] is None:
        return f"{match['stem']}_{frame.index + 1:06d}{video_ext}"
    return frame.name


def fsa_from_frames(meta: dict[str, Any], frames: Iterable[FrameRecord]) -> dict[str, Any]:
    """A Faceswap 2.4 document for store metadata and frames (the inverse of `frames_from_fsa`).

    Faceswap reads everything it knows: boxes (rounded to whole pixels, as Faceswap keeps
    them), landmarks, masks with their matrices, identities, thumbnails, video timestamps.
    What only faceforge uses (scores, exact boxes, frame sizes, the store's metadata) goes
    under ``__meta__["faceforge"]``, which Faceswap ignores, so a faceforge store survives the
    round trip unchanged.
    """
    faceswap = meta.get("faceswap") if isinstance(meta.get("faceswap"), dict) else {}
    identities = faceswap.get("identities") or {}
    video_meta = faceswap.get("video_meta") or {}
    video_ext = None
    if meta.get("source_kind") == "video":
        video_ext = faceswap.get("key_extension")
        if video_ext is None:
            # Faceswap 2.4 ends the keys with the video's extension; older ones with .png.
            suffix = Path(str(meta.get("source_path", ""))).suffix.lower()
            video_ext = suffix if suffix in _VIDEO_EXTENSIONS else ".png"
    data: dict[str, Any] = {}
    extra_frames: dict[str, Any] = {}
    for frame in frames:
        key = _fsa_key(frame, video_ext)
        if key in data:
            raise ValueError(f"two frames map to the Faceswap frame {key!r}")
        faces, face_extras = [], []
        for face in frame.faces:
            faces.append(_face_to_fsa(face, identities.get(f"{frame.index}/{face.face_index}")))
            face_extras.append([[float(v) for v in face.box], float(face.score), face.detector,
                                face.landmarker, np.asarray(face.matrix, np.float64).ravel()
                                .tolist()])
        entry: dict[str, Any] = {"faces": faces,
                                 "video_meta": dict(video_meta.get(str(frame.index), {}))}
        data[key] = entry
        extra_frames[key] = {"index": frame.index, "name": frame.name, "width": frame.width,
                             "height": frame.height, "timestamp_s": frame.timestamp_s,
                             "faces": face_extras}
    store_meta = {k: v for k, v in meta.items() if k != "faceswap"}
    return {"__meta__": {"version": FSA_VERSION,
                         "faceforge": {"meta": store_meta, "frames": extra_frames}},
            "__data__": data}


def _face_to_fsa(face: FaceRecord, foreign_ids: dict[str, Any] | None) -> dict[str, Any]:
    left, top, right, bottom = (float(v) for v in face.box)
    x, y = round(left), round(top)
    mask_matrix = geometry.aligned_matrix(np.asarray(face.matrix, np.float64), MASK_SIZE,
                                          MASK_CENTERING)
    # Faceswap warps a stored mask back to the frame with this interpolator.
    interpolator = cv2.INTER_CUBIC if geometry.matrix_scale(mask_matrix) < 1 else cv2.INTER_AREA
    masks = {}
    for name, mask in face.masks.items():
        if mask.shape != (MASK_SIZE, MASK_SIZE):
            raise ValueError(f"mask {name!r} is {mask.shape}, not {MASK_SIZE}x{MASK_SIZE}")
        masks[name] = {"mask": zlib.compress(np.ascontiguousarray(mask, np.uint8).tobytes()),
                       "affine_matrix": mask_matrix.tolist(), "interpolator": int(interpolator),
                       "stored_size": MASK_SIZE, "stored_centering": MASK_CENTERING}
    identity: dict[str, Any] = {}
    if face.identity is not None:
        identity["dlib"] = np.asarray(face.identity, np.float32).tolist()
    for name, vector in (foreign_ids or {}).items():
        identity[name] = [float(v) for v in vector]
    return {
        "x": x, "y": y, "w": round(right - left), "h": round(bottom - top),
        "landmarks_xy": np.asarray(face.landmarks, np.float32).tolist(),
        "mask": masks,
        "identity": identity,
        "thumb": None if face.thumbnail is None else list(bytes(face.thumbnail)),
    }


# ---------------------------------------------------------------------------------------
# Whole files


@dataclass(frozen=True)
class SourceFacts:
    """What `frames_from_fsa` needs to know about the video or image folder of a file."""

    kind: str
    path: Path
    stem: str
    frame_count: int
    fps: float | None = None
    width: int = 0
    height: int = 0
    #: image folder: its image names in frame order, and each one's (width, height)
    names: tuple[str, ...] = ()
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)

    def size_of(self, name: str) -> tuple[int, int]:
        return self.sizes.get(name, (self.width, self.height))


def source_facts(source: str | os.PathLike[str]) -> SourceFacts:
    """The `SourceFacts` of a video or image folder, read without decoding its frames."""
    from faceforge.io.frames import open_source

    with open_source(Path(source)) as opened:
        info = opened.info
        images = list(getattr(opened, "images", [])) if info.kind != "video" else []
    if not images:
        return SourceFacts(info.kind, info.path, info.stem, info.frame_count, info.fps,
                           info.width, info.height)
    from faceforge.io.images import image_size

    return SourceFacts(info.kind, info.path, info.stem, info.frame_count,
                       names=tuple(p.name for p in images),
                       sizes={p.name: image_size(p) for p in images})


def read_fsa_frames(
    fsa_path: str | os.PathLike[str], source: str | os.PathLike[str] | None = None
) -> tuple[dict[str, Any], list[FrameRecord]]:
    """Store metadata and frames from a ``.fsa`` file (see `frames_from_fsa`)."""
    fsa_path = Path(fsa_path)
    facts = None if source is None else source_facts(source)
    return frames_from_fsa(read_fsa(fsa_path), fsa_path, facts)


def fsa_to_store(
    fsa_path: str | os.PathLike[str],
    store_path: str | os.PathLike[str],
    source: str | os.PathLike[str] | None = None,
) -> Path:
    """Make a new alignments store at `store_path` from a Faceswap ``.fsa`` file.

    `source`, the video or image folder the file was made from, gives frame sizes and times.
    Returns the store's path. Refuses to overwrite an existing store (OutputError).
    """
    from faceforge.formats.alignments.store import AlignmentsStore

    store_path = Path(store_path)
    AlignmentsStore.create(store_path, lambda: _imported(fsa_path, source),
                           Path(fsa_path)).close()
    return store_path


def _imported(fsa_path: str | os.PathLike[str], source: str | os.PathLike[str] | None
              ) -> tuple[dict[str, Any], list[FrameRecord]]:
    meta, frames = read_fsa_frames(fsa_path, source)
    return {**meta, "imported_from": str(Path(fsa_path).resolve())}, frames


def store_to_fsa(store_path: str | os.PathLike[str], fsa_path: str | os.PathLike[str]) -> Path:
    """Write the alignments store at `store_path` as a Faceswap ``.fsa`` file (atomically)."""
    from faceforge.formats.alignments.store import AlignmentsStore

    with AlignmentsStore.open(store_path, "r") as store:
        meta = store.meta()
        meta.pop("imported_from", None)
        document = fsa_from_frames(meta, store.iter_frames())
    write_fsa(fsa_path, document)
    return Path(fsa_path)


def read_alignments(
    path: str | os.PathLike[str], source: str | os.PathLike[str] | None = None,
    frame_filter: Callable[[FrameRecord], bool] | None = None,
) -> tuple[dict[str, Any], list[FrameRecord]]:
    """Metadata and frames of an alignments store or a Faceswap ``.fsa`` file, by suffix.

    This is how `train -ala` and `convert -al` take a ``.fsa`` file directly.
    """
    path = Path(path)
    if path.suffix.lower() == ".fsa":
        meta, frames = read_fsa_frames(path, source)
    else:
        from faceforge.formats.alignments.store import AlignmentsStore

        with AlignmentsStore.open(path, "r") as store:
            meta, frames = store.meta(), list(store.iter_frames())
    if frame_filter is not None:
        frames = [frame for frame in frames if frame_filter(frame)]
    return meta, frames
