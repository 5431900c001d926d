"""On-disk formats with versions and migrations: alignments store, face PNG metadata."""

from faceforge.formats.alignments import (
    ALIGNMENTS_APPLICATION_ID,
    ALIGNMENTS_SCHEMA_VERSION,
    AlignmentsStore,
    FaceRecord,
    FrameRecord,
    OpenMode,
    default_alignments_path,
)
from faceforge.formats.face_png import (
    FACE_META_VERSION,
    encode_face_png,
    face_filename,
    make_face_meta,
    parse_face_filename,
    parse_face_meta,
    read_face_meta,
    read_face_png,
    write_face_png,
)

__all__ = [
    "ALIGNMENTS_APPLICATION_ID",
    "ALIGNMENTS_SCHEMA_VERSION",
    "FACE_META_VERSION",
    "AlignmentsStore",
    "FaceRecord",
    "FrameRecord",
    "OpenMode",
    "default_alignments_path",
    "encode_face_png",
    "face_filename",
    "make_face_meta",
    "parse_face_filename",
    "parse_face_meta",
    "read_face_meta",
    "read_face_png",
    "write_face_png",
]
