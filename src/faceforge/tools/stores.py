"""Alignments stores as the tools use them: changed on a copy that replaces the file whole,
after a backup; and the source video or image folder a store was made from."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceforge.errors import InputError, OutputError
from faceforge.formats.alignments import AlignmentsStore
from faceforge.io import FrameSource, open_source, source_fingerprint
from faceforge.io.files import (
    atomic_copy,
    atomic_output,
    backup_path,
    output_error,
    remove_stale_temporaries,
)


def _settled(path: Path) -> None:
    """Fold a write-ahead log left beside the store (by a killed writer) into the file, so a
    plain copy of the file holds everything that was committed."""
    if Path(f"{path}-wal").exists():
        AlignmentsStore.open(path, "r+").close()


def backup_store(path: Path) -> Path:
    """A complete copy of the store beside it; returns where."""
    _settled(path)
    backup = backup_path(path)
    atomic_copy(path, backup)
    return backup


@dataclass
class StoreEdit:
    """An open copy of a store being changed (`store`), and where the original was backed up
    (None when the result goes to a new file)."""

    store: AlignmentsStore
    backup: Path | None


@contextmanager
def edited_store(path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None,
                 ) -> Iterator[StoreEdit]:
    """Change a store on a copy: the copy replaces `output` (default: the store itself, which
    is first backed up) when the block ends, whole, or is removed on any error or Ctrl-C, so
    the file is either as it was or complete, whatever happens to the process."""
    source = Path(path)
    target = Path(output) if output is not None else source
    for folder in {source.parent, target.parent}:
        remove_stale_temporaries(folder)  # copies a killed edit left
    AlignmentsStore.open(source, "r").close()  # one clear error if it is not a store
    _settled(source)
    if target.resolve() != source.resolve() and target.exists():
        raise OutputError(f"{target} already exists", "choose a new file for -o")
    backup = backup_store(source) if target.resolve() == source.resolve() else None
    with atomic_output(target) as temp:
        try:
            shutil.copyfile(source, temp)
        except OSError as exc:
            raise output_error("copying", target, exc) from exc
        store = AlignmentsStore.open(temp, "r+")
        try:
            yield StoreEdit(store, backup)
        finally:
            store.close()


def source_stem(meta: dict[str, Any]) -> str | None:
    """The stem extraction named the store's face images with (`<stem>_<frame>_<face>.png`)."""
    path = meta.get("source_path")
    if not path:
        return None
    return Path(path).name if meta.get("source_kind") == "images" else Path(path).stem


def source_name(meta: dict[str, Any]) -> str | None:
    """The source's file or folder name, as face images record it in their metadata."""
    path = meta.get("source_path")
    return Path(path).name if path else None


def open_store_source(meta: dict[str, Any], store_path: Path,
                      override: str | os.PathLike[str] | None) -> FrameSource:
    """The video or image folder a store was made from: `override`, else the path the store
    records. Refuses a source whose fingerprint differs from the store's."""
    path = Path(override) if override else (
        Path(meta["source_path"]) if meta.get("source_path") else None)
    if path is None:
        raise InputError(f"{store_path} does not record its source",
                         "pass the video or image folder with -r/--source")
    if not path.exists():
        raise InputError(f"the source of {store_path}, {path}, is not there",
                         "pass where it is now with -r/--source")
    recorded = meta.get("source_fingerprint")
    if recorded is not None and recorded != source_fingerprint(path):
        raise InputError(f"{path} is not the source {store_path} was made from",
                         "pass the video or image folder it was extracted from with -r")
    return open_source(path)
