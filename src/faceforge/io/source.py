"""The common shape of every frame source: what a source is (`SourceInfo`), what it yields
(`Frame`) and the `FrameSource` interface that video files and image folders both implement."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from faceforge.errors import UsageError

if TYPE_CHECKING:  # numpy is only needed for annotations; keep `import faceforge.io` light
    import numpy as np

SourceKind = Literal["video", "images"]

# Still-image suffixes read from folders. GIF is absent on purpose: it is usually animated, so
# it is opened as a video through FFmpeg.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
# Suffixes that batch mode picks up as videos. `open_source` itself does not need them: FFmpeg
# probes the content, so a video with an odd suffix still opens when given by name.
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".gif",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".m2ts",
    ".wmv",
    ".flv",
    ".3gp",
    ".ogv",
)

# Image folders have no frame rate; outputs made from one play at this rate (frames/s), the
# rate FFmpeg reads image sequences at too.
IMAGE_SOURCE_FPS = 25.0


def natural_sort_key(name: str) -> tuple[list[int | str], str]:
    """Sort key that orders `img2.png` before `img10.png` (case-insensitive, digits by value).

    The raw name breaks ties so that the order is total and stable across platforms.
    """
    # re.split with a capturing group alternates text, number, text, ..., so ints and strs
    # always meet at the same positions and never get compared with each other.
    parts: list[int | str] = [
        int(part) if index % 2 else part.casefold()
        for index, part in enumerate(re.split(r"(\d+)", name))
    ]
    return parts, name


@dataclass(frozen=True)
class SourceInfo:
    """What is known about a source before decoding it.

    `width` and `height` are those of the upright picture (after rotation; for an image folder,
    those of its first image). `rotation` is the clockwise turn in degrees (0, 90, 180, 270)
    applied to the stored pixels to show them upright, the convention of the classic `rotate`
    video tag: a phone video filmed in portrait usually says 90.
    """

    path: Path
    kind: SourceKind
    frame_count: int
    fps: float | None
    width: int
    height: int
    rotation: int
    codec: str | None
    duration_s: float | None
    has_audio: bool
    stem: str


@dataclass(frozen=True)
class Frame:
    """One decoded frame: upright RGB uint8 pixels (H x W x 3, C-contiguous).

    `index` is the 0-based position in presentation order, counting every frame of the source
    whether or not it was yielded. `name` identifies the frame in face file names: for videos
    `<stem>_<index:06d>`, for image folders the image's file name.
    """

    index: int
    name: str
    image: np.ndarray
    timestamp_s: float | None


class FrameSource(ABC):
    """A video file or an image folder that yields upright RGB frames in order."""

    info: SourceInfo

    @property
    def frame_count(self) -> int:
        """Exact number of frames, counted before any decoding."""
        return self.info.frame_count

    def __len__(self) -> int:
        return self.info.frame_count

    @abstractmethod
    def iter_frames(self, skip: set[int] | None = None, every_n: int = 1) -> Iterator[Frame]:
        """Yield frames in order. Indices in `skip`, and those not a multiple of `every_n`,
        are counted but not yielded (and not converted to RGB)."""

    @abstractmethod
    def read_frame(self, index: int) -> Frame:
        """Random access to one frame by its 0-based index."""

    @abstractmethod
    def close(self) -> None:
        """Release open files. Safe to call twice."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check_every_n(every_n: int) -> None:
    """Reject a frame stride below 1, which would yield nothing."""
    if isinstance(every_n, bool) or not isinstance(every_n, int) or every_n < 1:
        raise UsageError(
            f"every_n must be a whole number of at least 1, got {every_n!r}",
            hint="use 1 to read every frame, 2 for every other frame, and so on",
        )
