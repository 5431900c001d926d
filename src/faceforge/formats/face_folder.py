"""Alignments rebuilt from a folder of face PNGs (faceforge's or Faceswap's), using only the
metadata each face carries: for when the alignments file is lost or belongs to another tool.

faceforge faces carry their frame, face index and landmarks; the box is taken as the
landmarks' bounds and the landmark masks are redrawn. Faceswap faces carry Faceswap's whole
alignments entry (box, landmarks, masks, identities), read as in a ``.fsa`` file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from faceforge.core import geometry
from faceforge.core.masks import MASK_TYPES, landmark_mask
from faceforge.errors import FormatError, InputError
from faceforge.formats.alignments.records import FaceRecord, FrameRecord
from faceforge.formats.face_png import read_face_meta
from faceforge.formats.fsa import (
    MASK_CENTERING,
    MASK_SIZE,
    SourceFacts,
    face_record_from_faceswap,
    source_facts,
)

log = logging.getLogger(__name__)


def _faceforge_face(meta: dict[str, Any]) -> FaceRecord:
    landmarks = np.asarray(meta["landmarks"], np.float32)
    legacy = geometry.legacy_matrix(landmarks)
    mask_matrix = geometry.aligned_matrix(legacy, MASK_SIZE, MASK_CENTERING)
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    return FaceRecord(
        face_index=int(meta["face_index"]),
        box=(float(low[0]), float(low[1]), float(high[0]), float(high[1])),
        score=1.0, landmarks=landmarks, matrix=legacy,
        masks={name: landmark_mask(landmarks, mask_matrix, MASK_SIZE, name)
               for name in MASK_TYPES},
    )


def _video_stem(source: str | None) -> str | None:
    """faceforge's faces name their video with its suffix, Faceswap's without."""
    from faceforge.io.source import VIDEO_EXTENSIONS

    if source and Path(source).suffix.lower() in VIDEO_EXTENSIONS:
        return Path(source).stem
    return source


def frames_from_faces(
    folder: str | os.PathLike[str], source: SourceFacts | None = None
) -> tuple[dict[str, Any], list[FrameRecord]]:
    """Store metadata and frames from the face PNGs in `folder` (not its subfolders).

    Only frames that still have a face are known, so frames without faces are not listed.
    `source` (see `fsa.source_facts`) gives frame sizes and, for an image folder, the frame
    order; without it, image frames are numbered in natural order of their names.
    """
    folder = Path(folder)
    paths = sorted(p for p in folder.glob("*.png") if not p.name.startswith("."))
    if not paths:
        raise InputError(f"{folder} holds no face images (.png)",
                         "pass the folder `extract` wrote the faces to")
    by_frame: dict[Any, dict[str, Any]] = {}
    sources = set()
    for path in paths:
        try:
            meta = read_face_meta(path)
        except FormatError as exc:
            log.warning("%s skipped: %s", path.name, exc.one_line())
            continue
        key = meta["frame_index"] if meta["frame_index"] is not None else meta["frame_name"]
        frame = by_frame.setdefault(key, {"name": meta["frame_name"], "faces": {},
                                          "size": meta.get("source_size")})
        if meta["face_index"] in frame["faces"]:
            raise FormatError(f"{path.name} repeats face {meta['face_index']} of frame "
                              f"{meta['frame_name']}", "remove the duplicate face image")
        if meta["origin"] == "faceswap":
            face = face_record_from_faceswap(meta["faceswap_alignments"], meta["face_index"])
        else:
            face = _faceforge_face(meta)
        frame["faces"][meta["face_index"]] = face
        sources.add(_video_stem(meta.get("source")))
    if not by_frame:
        raise InputError(f"no face image in {folder} carries face metadata",
                         "use faces written by `faceforge extract` or Faceswap")
    names = [key for key in by_frame if isinstance(key, str)]
    if names:
        from faceforge.io.source import natural_sort_key

        order = list(source.names) if source is not None and source.names else sorted(
            names, key=natural_sort_key)
        position = {name: i for i, name in enumerate(order)}
        unknown = [name for name in names if name not in position]
        if unknown:
            raise FormatError(f"frame {unknown[0]!r} of the faces is not in {source.path}",
                              "pass the image folder the faces come from")
    frames = []
    for key, entry in by_frame.items():
        index = key if isinstance(key, int) else position[key]
        if source is not None and source.kind == "video":
            width, height = source.width, source.height
            name = f"{source.stem}_{index:06d}"
        elif source is not None:
            width, height = source.size_of(entry["name"])
            name = entry["name"]
        else:
            width, height = entry["size"] or (0, 0)
            name = (f"{next(iter(sources))}_{index:06d}"
                    if isinstance(key, int) and len(sources) == 1 and None not in sources
                    else entry["name"])
        frames.append(FrameRecord(index=index, name=name, width=int(width), height=int(height),
                                  faces=[entry["faces"][i] for i in sorted(entry["faces"])]))
    frames.sort(key=lambda frame: frame.index)
    meta_out: dict[str, Any] = {"source_kind": "video" if all(
        isinstance(key, int) for key in by_frame) else "images",
        "imported_from_faces": str(folder.resolve())}
    if source is not None:
        meta_out.update({"source_path": str(source.path), "frame_count": source.frame_count})
    return meta_out, frames


def faces_to_store(
    folder: str | os.PathLike[str],
    store_path: str | os.PathLike[str],
    source: str | os.PathLike[str] | None = None,
) -> Path:
    """Make a new alignments store at `store_path` from a folder of face PNGs."""
    from faceforge.formats.alignments.store import AlignmentsStore

    store_path = Path(store_path)
    AlignmentsStore.create(
        store_path,
        lambda: frames_from_faces(folder, None if source is None else source_facts(source)),
        Path(folder)).close()
    return store_path
