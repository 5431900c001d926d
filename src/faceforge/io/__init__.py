"""The only place that opens videos and image folders and writes files to disk.

Video decoding (PyAV) and image decoding (OpenCV) are imported when a source is opened, not
when this package is, so importing faceforge stays fast.
"""

from faceforge.io.files import atomic_write, ensure_writable_dir
from faceforge.io.frames import list_batch_inputs, open_source, source_fingerprint
from faceforge.io.source import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Frame,
    FrameSource,
    SourceInfo,
    natural_sort_key,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Frame",
    "FrameSource",
    "SourceInfo",
    "atomic_write",
    "ensure_writable_dir",
    "list_batch_inputs",
    "natural_sort_key",
    "open_source",
    "source_fingerprint",
]
