"""Output writers of `faceforge convert`. Each module registers itself in WRITERS when imported
here. numpy, PyAV, OpenCV and Pillow are imported when a writer is used, not by this package."""

from __future__ import annotations

import os
from typing import Any

from faceforge.io.source import SourceInfo
from faceforge.plugins.writer import ffmpeg, gif, images, patch  # noqa: F401 - registers them
from faceforge.plugins.writer.base import WRITERS, Writer

__all__ = ["WRITERS", "Writer", "open_writer"]


def open_writer(
    name: str,
    info: SourceInfo,
    out_dir: str | os.PathLike[str],
    options: dict[str, Any] | None = None,
) -> Writer:
    """Build the registered writer `name` for the source `info`, writing into `out_dir`.

    Unknown writer names and unknown or invalid options raise `UsageError` naming the valid
    ones; an output folder that cannot be created or written raises `OutputError`.
    """
    return WRITERS.get(name)(info, out_dir, options)
