"""A faces folder as the tools read it: each face PNG with the metadata it carries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceforge.errors import FormatError, InputError
from faceforge.formats.face_png import face_filename, parse_face_filename, read_face_meta
from faceforge.io.source import natural_sort_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceFile:
    """One face image: its path, its metadata (None if it carries none) and whose face it is."""

    path: Path
    meta: dict[str, Any] | None
    source: str | None  # the source's file name (faceforge) or stem (Faceswap)
    frame_index: int | None
    face_index: int | None

    @property
    def key(self) -> tuple[int, int] | None:
        if self.frame_index is None or self.face_index is None:
            return None
        return self.frame_index, self.face_index

    def store_name(self) -> str | None:
        """The name extraction gave this face: `<source stem>_<frame>_<face>.png`."""
        if self.source is None or self.key is None:
            return None
        return face_filename(Path(self.source).stem, *self.key)

    def belongs_to(self, source_name: str | None) -> bool:
        """Whether this face was extracted from the source of that file or folder name."""
        if source_name is None or self.source is None:
            return False
        return self.source in (source_name, Path(source_name).stem)


def list_face_pngs(folder: Path) -> list[Path]:
    """The PNG files directly in `folder`, natural order, hidden ones left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"faces folder {folder} not found",
                         "pass the folder `faceforge extract` wrote the faces to")
    return sorted((p for p in folder.iterdir()
                   if p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file()),
                  key=lambda p: natural_sort_key(p.name))


def read_face_file(path: Path) -> FaceFile:
    """The face at `path`; its key comes from its metadata, else from its file name."""
    try:
        meta = read_face_meta(path)
    except (FormatError, InputError) as exc:
        parsed = parse_face_filename(path.name)
        log.debug("%s: %s", path, exc)
        if parsed is None:
            return FaceFile(path, None, None, None, None)
        return FaceFile(path, None, parsed[0], parsed[1], parsed[2])
    return FaceFile(path, meta, meta.get("source"), meta.get("frame_index"),
                    meta.get("face_index"))


def read_faces_folder(folder: Path) -> list[FaceFile]:
    return [read_face_file(path) for path in list_face_pngs(folder)]
