"""What the tools tests share: the CLI in-process, copies of the session's faces and stores,
and what a store or folder holds."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from faceforge.cli import main
from faceforge.formats.alignments import AlignmentsStore


def run_cli(*args: object) -> int:
    return main([str(a) for a in args])


def copy_side(faces: dict[str, Path], side: str, where: Path) -> tuple[Path, Path]:
    """A private copy of one side's alignments store and faces folder: (store, folder)."""
    where.mkdir(parents=True, exist_ok=True)
    store = where / f"{side}.db"
    shutil.copy2(faces[side].parent / f"{side}.db", store)
    folder = where / f"faces_{side}"
    shutil.copytree(faces[side], folder)
    return store, folder


def face_keys(store_path: Path) -> set[tuple[int, int]]:
    with AlignmentsStore.open(store_path, "r") as store:
        return {(frame.index, face.face_index) for frame in store.iter_frames()
                for face in frame.faces}


def contents(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path -> sha256), hidden ones included."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
