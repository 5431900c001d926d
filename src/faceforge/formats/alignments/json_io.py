"""The alignments store as one JSON document, for reading or editing outside faceforge:
arrays as lists, masks (single-channel PNG) and thumbnails (JPEG) as base64."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from faceforge.errors import FormatError
from faceforge.formats.alignments.records import (
    LANDMARK_COUNT,
    FaceRecord,
    FrameRecord,
    decode_mask,
    encode_mask,
)
from faceforge.formats.alignments.schema import ALIGNMENTS_SCHEMA_VERSION
from faceforge.formats.json_text import JsonProblem, parse_json
from faceforge.io.files import atomic_output, read_bytes

JSON_FORMAT_NAME = "faceforge-alignments"
_EXPORT_HINT = "pass a file written by `faceforge tools alignments export`"


def write_json_export(
    path: str | os.PathLike[str], meta: dict[str, Any], frames: Iterable[FrameRecord]
) -> None:
    """Write `meta` and `frames` as one JSON document at `path`, atomically.

    Streamed frame by frame, so a long video does not need the whole document in memory.
    Raises `OutputError` naming `path`; the previous file, if any, is kept on any failure.
    """
    head = {"format": JSON_FORMAT_NAME, "schema_version": ALIGNMENTS_SCHEMA_VERSION, "meta": meta}
    with atomic_output(path) as temp, open(temp, "w", encoding="utf-8") as out:
        out.write(json.dumps(head)[:-1] + ', "frames": [\n')
        for number, frame in enumerate(frames):
            out.write(",\n" if number else "")
            out.write(json.dumps(_frame_to_json(frame)))
        out.write("\n]}\n")


def read_json_export(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[FrameRecord]]:
    """The metadata and frames of a document `write_json_export` wrote.

    Raises `InputError` for a missing or unreadable file, `FormatError` for anything else.
    """
    path = Path(path)
    data = read_bytes(path, "alignments JSON")
    try:
        document = parse_json(data)
    except JsonProblem as exc:
        raise FormatError(f"{path} is not readable JSON: {exc}", _EXPORT_HINT) from None
    if not isinstance(document, dict) or document.get("format") != JSON_FORMAT_NAME:
        raise FormatError(f"{path} is not a faceforge alignments JSON export", _EXPORT_HINT)
    version = document.get("schema_version")
    if not isinstance(version, int) or version > ALIGNMENTS_SCHEMA_VERSION:
        raise FormatError(
            f"{path} was exported with alignments schema version {version}, but this "
            f"faceforge reads versions up to {ALIGNMENTS_SCHEMA_VERSION}",
            "upgrade faceforge to import it",
        )
    try:
        frames = [_frame_from_json(item) for item in document["frames"]]
        meta = dict(document["meta"])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        raise FormatError(
            f"{path} has an invalid alignments entry: {exc!r}",
            "re-export it, or fix the entry by hand",
        ) from exc
    return meta, frames


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _frame_to_json(frame: FrameRecord) -> dict[str, Any]:
    return {
        "index": frame.index,
        "name": frame.name,
        "width": frame.width,
        "height": frame.height,
        "timestamp_s": frame.timestamp_s,
        "faces": [
            {
                "face_index": face.face_index,
                "box": [float(v) for v in face.box],
                "score": float(face.score),
                "landmarks": np.asarray(face.landmarks, np.float32).tolist(),
                "matrix": np.asarray(face.matrix, np.float64).tolist(),
                "masks": {name: _b64(encode_mask(mask)) for name, mask in face.masks.items()},
                "identity": None
                if face.identity is None
                else np.asarray(face.identity, np.float32).tolist(),
                "thumbnail": None if face.thumbnail is None else _b64(face.thumbnail),
                "detector": face.detector,
                "landmarker": face.landmarker,
            }
            for face in frame.faces
        ],
    }


def _frame_from_json(item: dict[str, Any]) -> FrameRecord:
    faces = []
    for face in item["faces"]:
        masks = {}
        for name, text in face["masks"].items():
            mask = decode_mask(base64.b64decode(text))
            if mask is None:
                raise ValueError(f"mask {name!r} of frame {item['index']} is not a 1-channel PNG")
            masks[name] = mask
        identity = face.get("identity")
        thumbnail = face.get("thumbnail")
        left, top, right, bottom = (float(v) for v in face["box"])
        faces.append(FaceRecord(
            face_index=int(face["face_index"]),
            box=(left, top, right, bottom),
            score=float(face["score"]),
            landmarks=np.asarray(face["landmarks"], np.float32).reshape(LANDMARK_COUNT, 2),
            matrix=np.asarray(face["matrix"], np.float64).reshape(2, 3),
            masks=masks,
            identity=None if identity is None else np.asarray(identity, np.float32),
            thumbnail=None if thumbnail is None else base64.b64decode(thumbnail),
            detector=str(face.get("detector", "")),
            landmarker=str(face.get("landmarker", "")),
        ))
    timestamp = item.get("timestamp_s")
    return FrameRecord(
        index=int(item["index"]),
        name=str(item["name"]),
        width=int(item["width"]),
        height=int(item["height"]),
        timestamp_s=None if timestamp is None else float(timestamp),
        faces=faces,
    )
