"""The `opencv` writer (Faceswap's name for it): one image file per converted frame."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faceforge.errors import OutputError
from faceforge.io.files import atomic_write
from faceforge.plugins.writer.base import WRITERS, Writer, choice, whole_number

if TYPE_CHECKING:
    import numpy as np

    from faceforge.formats.patch_png import FacePatch

IMAGE_FORMATS = ("png", "jpg", "webp", "tif")


@dataclass(frozen=True)
class ImageSequenceOptions:
    """Options of the `opencv` writer: file format and its quality settings.

    png_compression 0-9 (3 is Faceswap's default: fast, a little larger); jpg_quality and
    webp_quality 1-100 (webp 101 is lossless).
    """

    format: str = "png"
    png_compression: int = 3
    jpg_quality: int = 95
    webp_quality: int = 95

    def __post_init__(self) -> None:
        object.__setattr__(self, "format", choice("image format", self.format, IMAGE_FORMATS))
        whole_number("png_compression", self.png_compression, 0, 9)
        whole_number("jpg_quality", self.jpg_quality, 1, 100)
        whole_number("webp_quality", self.webp_quality, 1, 101)


def frame_filename(stem: str, index: int, fmt: str) -> str:
    """`<stem>_<index:06d>.<fmt>`, the 0-based frame index as in `Frame.name`."""
    return f"{stem}_{index:06d}.{fmt}"


def existing_indices(out_dir: str | os.PathLike[str], stem: str, fmt: str) -> set[int]:
    """Indices of the frames already written as `<stem>_<index>.<fmt>` in `out_dir`, for
    `--skip-existing`: every such file is complete, because each was written atomically."""
    folder = Path(out_dir)
    pattern = re.compile(rf"^{re.escape(stem)}_(\d{{6,}})\.{re.escape(fmt.lower())}$")
    try:
        names = [entry.name for entry in folder.iterdir()]
    except FileNotFoundError:
        return set()
    found = set()
    for name in names:
        match = pattern.match(name)
        if match is not None:
            found.add(int(match[1]))
    return found


@WRITERS.register("opencv")
class ImageSequenceWriter(Writer):
    """One image per frame, `<out_dir>/<stem>_<index:06d>.<format>`, each written atomically.

    Only the frames given are written, under their source index, so skipped frames leave gaps
    in the numbering. `abort()` keeps the images already written: each is complete, and
    `existing_indices` lets a rerun carry on after them.
    """

    name = "opencv"
    options_class = ImageSequenceOptions

    def describe_output(self) -> str:
        return str(self.out_dir / frame_filename(self.info.stem, 0, self.options.format))

    def _encode_params(self) -> list[int]:
        import cv2

        opts: ImageSequenceOptions = self.options
        if opts.format == "png":
            return [cv2.IMWRITE_PNG_COMPRESSION, opts.png_compression]
        if opts.format == "jpg":
            return [cv2.IMWRITE_JPEG_QUALITY, opts.jpg_quality]
        if opts.format == "webp":
            return [cv2.IMWRITE_WEBP_QUALITY, opts.webp_quality]
        return []

    def _write(
        self, index: int, frame: np.ndarray | None, patches: Sequence[FacePatch]
    ) -> None:
        import cv2

        fmt = self.options.format
        ok, encoded = cv2.imencode(
            f".{fmt}", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), self._encode_params()
        )
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
            raise OutputError(f"OpenCV could not encode frame {index} as {fmt}")
        atomic_write(self.out_dir / frame_filename(self.info.stem, index, fmt), encoded)

    def _close(self) -> None:
        """Every image is final as soon as it is written."""

    def _abort(self) -> None:
        """Nothing partial to remove (see the class docstring)."""
