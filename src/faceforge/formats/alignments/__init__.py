"""The alignments store: per source, the faces found in every processed frame (SQLite).

`records` holds the frame and face objects, `schema` the file's tables and migrations,
`store` the open store, `json_io` the JSON export and import.
"""

from faceforge.formats.alignments.records import FaceRecord, FrameRecord
from faceforge.formats.alignments.schema import (
    ALIGNMENTS_APPLICATION_ID,
    ALIGNMENTS_SCHEMA_VERSION,
)
from faceforge.formats.alignments.store import AlignmentsStore, OpenMode, default_alignments_path

__all__ = [
    "ALIGNMENTS_APPLICATION_ID",
    "ALIGNMENTS_SCHEMA_VERSION",
    "AlignmentsStore",
    "FaceRecord",
    "FrameRecord",
    "OpenMode",
    "default_alignments_path",
]
