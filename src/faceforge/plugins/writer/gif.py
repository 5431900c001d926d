"""The `gif` writer: an animated GIF of the converted frames, made with Pillow."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faceforge.errors import UsageError
from faceforge.io.files import partial_path, remove_partial, remove_stale_partials
from faceforge.io.source import IMAGE_SOURCE_FPS, SourceInfo
from faceforge.plugins.writer.base import WRITERS, Writer, whole_number

if TYPE_CHECKING:
    import numpy as np

    from faceforge.formats.patch_png import FacePatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GifOptions:
    """Options of the `gif` writer: rate (None: the source's), loops (0: forever), colours."""

    fps: float | None = None
    loop: int = 0
    palette_size: int = 256

    def __post_init__(self) -> None:
        if self.fps is not None and not (
            isinstance(self.fps, (int, float)) and 0 < self.fps <= 100
        ):
            raise UsageError(f"gif fps must be above 0 and at most 100, got {self.fps!r}",
                             "GIF timing has 10 ms steps; try 10 to 30")
        whole_number("loop", self.loop, 0, 65535)
        whole_number("palette_size", self.palette_size, 2, 256)


@WRITERS.register("gif")
class GifWriter(Writer):
    """An animated GIF, `<out_dir>/<stem>_converted.gif`, at the source's frame rate.

    Frames are reduced to a palette as they arrive (a byte per pixel in memory) and the file is
    written by `close()` to a partial name, then renamed. Skipped frames are left out and the
    rest play back to back. GIF delays come in 10 ms steps, so per-frame delays alternate
    (30 fps: 30, 30, 40 ms...) to keep the total length right. Pillow merges a frame identical
    to the one before into it (longer delay), so a still stretch counts as one frame.
    """

    name = "gif"
    options_class = GifOptions

    def __init__(
        self, info: SourceInfo, out_dir: str | os.PathLike[str], options: Any = None
    ) -> None:
        super().__init__(info, out_dir, options)
        self.output_path = self.out_dir / f"{info.stem}_converted.gif"
        remove_stale_partials(self.output_path)  # what a killed run of it left
        self._partial = partial_path(self.output_path)
        self.fps = float(self.options.fps or info.fps or IMAGE_SOURCE_FPS)
        self._frames: list[Any] = []

    def describe_output(self) -> str:
        return str(self.output_path)

    def _write(
        self, index: int, frame: np.ndarray | None, patches: Sequence[FacePatch]
    ) -> None:
        from PIL import Image

        if self._frames and self._frames[0].size != (frame.shape[1], frame.shape[0]):
            raise ValueError(f"frame {index} differs in size from the first frame")
        image = Image.fromarray(frame, "RGB")
        self._frames.append(
            image.quantize(self.options.palette_size, method=Image.Quantize.FASTOCTREE)
        )

    def delays_ms(self, count: int) -> list[int]:
        """Per-frame delays in whole centiseconds whose running sum tracks frame / fps."""
        ticks = [round(frame * 100 / self.fps) for frame in range(count + 1)]
        return [max(1, (ticks[i + 1] - ticks[i])) * 10 for i in range(count)]

    def _close(self) -> None:
        if not self._frames:
            log.warning("no frames were written for %s; no GIF made", self.info.path)
            return
        first, *rest = self._frames
        try:
            first.save(
                self._partial,
                format="GIF",
                save_all=True,
                append_images=rest,
                duration=self.delays_ms(len(self._frames)),
                loop=self.options.loop,
                optimize=False,
                disposal=1,
            )
            os.replace(self._partial, self.output_path)
        finally:
            self._frames = []

    def _abort(self) -> None:
        self._frames = []
        remove_partial(self._partial)
