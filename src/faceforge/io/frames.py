"""Entry points for reading footage: open a video or image folder as a `FrameSource`, list
the inputs of a batch folder, and fingerprint a source for the alignments store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from faceforge.errors import InputError
from faceforge.io.source import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    FrameSource,
    natural_sort_key,
)

_FINGERPRINT_CHUNK = 1 << 20  # 1 MiB from each end of a file
# Bumped if the recipe changes, so old and new fingerprints can never be mistaken for each other.
_FINGERPRINT_VERSION = b"faceforge-source-fingerprint-1\n"


def _existing(path: str | os.PathLike[str]) -> Path:
    source = Path(path).expanduser()
    try:
        source.stat()
    except FileNotFoundError:
        raise InputError(
            f"{source} does not exist", hint="check the path (and the current folder)"
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot reach {source}: {exc.strerror or exc}",
            hint="check the permissions of the folders on its path",
        ) from exc
    return source


def open_source(
    path: str | os.PathLike[str], *, threads: bool = True, allow_truncated: bool = False
) -> FrameSource:
    """Open a video file, an image folder or a single image as a `FrameSource`.

    Anything that is not a folder or an image file is handed to FFmpeg, which recognises a
    video by its content rather than its suffix. `threads=False` turns off threaded decoding
    (for benchmarks). `allow_truncated=True` lets a damaged video end early instead of raising.
    """
    source = _existing(path)
    if source.is_dir() or (source.is_file() and source.suffix.lower() in IMAGE_EXTENSIONS):
        from faceforge.io.images import ImageFolderSource

        return ImageFolderSource(source)
    if not source.is_file():
        raise InputError(
            f"{source} is neither a file nor a folder", hint="give a video file or image folder"
        )
    from faceforge.io.video import VideoSource

    return VideoSource(source, threads=threads, allow_truncated=allow_truncated)


def list_batch_inputs(folder: str | os.PathLike[str]) -> list[Path]:
    """The videos and image subfolders directly inside `folder`, in natural order (batch mode)."""
    from faceforge.io.images import list_images

    parent = _existing(folder)
    if not parent.is_dir():
        raise InputError(
            f"{parent} is not a folder",
            hint="batch mode takes a folder that holds videos or image folders",
        )
    try:
        entries = sorted(parent.iterdir(), key=lambda entry: natural_sort_key(entry.name))
    except OSError as exc:
        raise InputError(f"cannot list folder {parent}: {exc.strerror or exc}") from exc
    inputs = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if list_images(entry):
                inputs.append(entry)
        elif entry.is_file() and entry.suffix.lower() in VIDEO_EXTENSIONS:
            inputs.append(entry)
    if not inputs:
        raise InputError(
            f"folder {parent} holds no videos or image folders",
            hint="batch mode needs video files ("
            + ", ".join(ext.lstrip(".") for ext in VIDEO_EXTENSIONS[:6])
            + ", ...) or subfolders of images inside it",
        )
    return inputs


def source_fingerprint(path: str | os.PathLike[str]) -> str:
    """A cheap identity (sha256 hex) of a source, to tell whether an alignments store belongs
    to it: size plus the first and last MiB for a file; names and sizes for an image folder.

    It changes when the footage is re-encoded or images are added, removed or replaced, without
    reading whole videos.
    """
    from faceforge.io.images import list_images

    source = _existing(path)
    digest = hashlib.sha256(_FINGERPRINT_VERSION)
    try:
        if source.is_dir():
            digest.update(b"images\n")
            for image in list_images(source):
                digest.update(f"{image.name}\0{image.stat().st_size}\n".encode())
        else:
            size = source.stat().st_size
            digest.update(b"file\n%d\n" % size)
            with source.open("rb") as handle:
                digest.update(handle.read(_FINGERPRINT_CHUNK))
                if size > _FINGERPRINT_CHUNK:
                    handle.seek(max(size - _FINGERPRINT_CHUNK, _FINGERPRINT_CHUNK))
                    digest.update(handle.read(_FINGERPRINT_CHUNK))
    except OSError as exc:
        raise InputError(
            f"cannot read {source}: {exc.strerror or exc}",
            hint="check the permissions of the file or folder",
        ) from exc
    return digest.hexdigest()
