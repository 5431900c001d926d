"""Folders of still images read as a frame source: natural file order, EXIF orientation
honoured, every image turned into 8-bit RGB whatever its depth or channels."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from faceforge.errors import InputError
from faceforge.io.source import (
    IMAGE_EXTENSIONS,
    Frame,
    FrameSource,
    SourceInfo,
    check_every_n,
    natural_sort_key,
)

_LISTED_EXTENSIONS = ", ".join(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)


def list_images(folder: Path) -> list[Path]:
    """The images in `folder` (not its subfolders), in natural order.

    Hidden files are left out: macOS copies leave `._name.png` resource forks next to the real
    images, and those are not pictures.
    """
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise InputError(
            f"cannot list folder {folder}: {exc.strerror or exc}",
            hint="check that the folder exists and that you may read it",
        ) from exc
    images = [
        entry
        for entry in entries
        if entry.suffix.lower() in IMAGE_EXTENSIONS
        and not entry.name.startswith(".")
        and entry.is_file()
    ]
    return sorted(images, key=lambda image: natural_sort_key(image.name))


def read_image_rgb(path: str | os.PathLike[str], what: str = "image") -> np.ndarray:
    """Decode one image file to upright 8-bit RGB (H x W x 3, C-contiguous).

    `what` names the file in errors ("reference photo ... does not exist"): a missing,
    unreadable or undecodable file is one `InputError`. IMREAD_COLOR is what makes this one
    call enough: it applies the EXIF orientation, expands grayscale, drops alpha and scales
    16-bit samples down to 8 bits.
    """
    path = Path(path)
    try:
        encoded = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist", hint="check the path") from None
    except IsADirectoryError:
        raise InputError(
            f"{what} {path} is a folder, not an image file", hint="pass an image file"
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot read {what} {path}: {exc.strerror or exc}",
            hint="check the file's permissions",
        ) from exc
    image = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if encoded.size else None
    if image is None:
        raise InputError(
            f"{what} {path} cannot be decoded (damaged, empty, or not really a "
            f"{path.suffix.lstrip('.').lower()} file)",
            hint="remove or replace that file, then run again",
        )
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of an image as `read_image_rgb` would return it, read from its header
    (EXIF orientations that turn the picture by 90 degrees swap the two)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InputError(f"cannot read image {path}: {exc}",
                         "remove or replace that file") from None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


class ImageFolderSource(FrameSource):
    """A folder of images, or a single image file, read as frames in natural order.

    Open it with `faceforge.io.open_source`. An image that fails to decode raises `InputError`
    naming it when iteration reaches it, after every earlier image was yielded.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            self.images = list_images(path)
            if not self.images:
                raise InputError(
                    f"folder {path} holds no images ({_LISTED_EXTENSIONS})",
                    hint="point to a folder of images or to a video file",
                )
            stem = path.name
        else:
            self.images = [path]
            stem = path.stem
        # Only the first image is decoded here; images in a folder may differ in size, so the
        # size in `info` describes the first one.
        first = read_image_rgb(self.images[0])
        self.info = SourceInfo(
            path=path,
            kind="images",
            frame_count=len(self.images),
            fps=None,
            width=first.shape[1],
            height=first.shape[0],
            rotation=0,
            codec=None,
            duration_s=None,
            has_audio=False,
            stem=stem,
        )

    def _frame(self, index: int) -> Frame:
        image_path = self.images[index]
        return Frame(
            index=index, name=image_path.name, image=read_image_rgb(image_path), timestamp_s=None
        )

    def iter_frames(self, skip: set[int] | None = None, every_n: int = 1) -> Iterator[Frame]:
        check_every_n(every_n)  # here, not in the generator, so a bad stride fails at the call
        skipped = skip or frozenset()
        return (
            self._frame(index)
            for index in range(len(self.images))
            if index not in skipped and index % every_n == 0
        )

    def read_frame(self, index: int) -> Frame:
        if not 0 <= index < len(self.images):
            raise IndexError(f"frame {index} is outside 0..{len(self.images) - 1}")
        return self._frame(index)

    def close(self) -> None:
        """Nothing stays open between images."""
