"""The alignments store: one SQLite file per source video or image folder.

It records, for every processed frame, the faces found in it (box, score, 68 landmarks,
alignment matrix, masks, identity embedding, thumbnail) plus free-form JSON metadata.
Extraction commits one batch of frames per transaction, so a killed run loses at most the
batch it was writing and resumes from :meth:`AlignmentsStore.done_frame_indices`.

Schema history (``PRAGMA user_version``):

* 1: faces without ``identity`` and ``thumbnail`` columns; meta values stored as plain text.
* 2: adds ``faces.identity`` and ``faces.thumbnail``; meta values stored as JSON.

Older files are migrated in place on opening for writing, after a copy of the original is
kept as ``<name>.v<old>.bak``. Read-only opening migrates an in-memory copy and leaves the
file untouched.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import cv2
import numpy as np

from faceforge.errors import FormatError, InputError, OutputError
from faceforge.formats.png_chunks import encode_gray_png

__all__ = [
    "ALIGNMENTS_APPLICATION_ID",
    "ALIGNMENTS_SCHEMA_VERSION",
    "AlignmentsStore",
    "FaceRecord",
    "FrameRecord",
    "OpenMode",
    "default_alignments_path",
]

# "FFal" read as a big-endian int32: marks the SQLite file as a faceforge alignments store.
ALIGNMENTS_APPLICATION_ID = 0x4646616C
ALIGNMENTS_SCHEMA_VERSION = 2
JSON_FORMAT_NAME = "faceforge-alignments"

OpenMode = Literal["r", "r+", "a"]
"""``r`` read-only, ``r+`` read-write of an existing file, ``a`` create-or-open."""

LANDMARK_COUNT = 68
IDENTITY_SIZE = 128

_SQLITE_MAGIC = b"SQLite format 3\x00"
_ALIGNMENTS_HINT = "pass -p/--alignments to write it somewhere else"
# Frames read per query while iterating: bounds memory without a query per frame.
_ITER_CHUNK_FRAMES = 256

_SCHEMA_V2 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                 -- JSON
);
CREATE TABLE frames (
    idx         INTEGER PRIMARY KEY,    -- 0-based decode order
    name        TEXT NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    timestamp_s REAL
);
CREATE TABLE faces (
    frame_idx  INTEGER NOT NULL REFERENCES frames(idx) ON DELETE CASCADE,
    face_index INTEGER NOT NULL,
    left REAL NOT NULL, top REAL NOT NULL, right REAL NOT NULL, bottom REAL NOT NULL,
    score      REAL NOT NULL,
    landmarks  BLOB NOT NULL,           -- 68x2 little-endian float32, frame px
    matrix     BLOB NOT NULL,           -- 2x3 little-endian float64, frame px -> unit face
    detector   TEXT NOT NULL,
    landmarker TEXT NOT NULL,
    identity   BLOB,                    -- 128 little-endian float32, or NULL
    thumbnail  BLOB,                    -- JPEG bytes, or NULL
    PRIMARY KEY (frame_idx, face_index)
) WITHOUT ROWID;
CREATE TABLE masks (
    frame_idx  INTEGER NOT NULL,
    face_index INTEGER NOT NULL,
    name       TEXT NOT NULL,
    png        BLOB NOT NULL,           -- single-channel uint8 PNG
    PRIMARY KEY (frame_idx, face_index, name),
    FOREIGN KEY (frame_idx, face_index) REFERENCES faces(frame_idx, face_index)
        ON DELETE CASCADE
) WITHOUT ROWID;
"""

# Meta keys that schema 1 wrote as text but are numbers; every other v1 value stays a string.
_V1_NUMERIC_META: dict[str, Callable[[str], Any]] = {"frame_count": int, "fps": float}

_F32 = np.dtype("<f4")
_F64 = np.dtype("<f8")


@dataclass
class FaceRecord:
    """One face found in one frame."""

    face_index: int
    box: tuple[float, float, float, float]  # left, top, right, bottom in frame px
    score: float
    landmarks: np.ndarray  # (68, 2) float32, frame px
    matrix: np.ndarray  # (2, 3) float64, frame px -> unit face space
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (H, W) uint8
    identity: np.ndarray | None = None  # (128,) float32
    thumbnail: bytes | None = None  # JPEG
    detector: str = ""
    landmarker: str = ""


@dataclass
class FrameRecord:
    """One processed frame and the faces found in it (possibly none)."""

    index: int
    name: str
    width: int
    height: int
    timestamp_s: float | None = None
    faces: list[FaceRecord] = field(default_factory=list)


def default_alignments_path(source: str | os.PathLike[str]) -> Path:
    """Where extraction writes the store by default: next to a video, inside an image folder."""
    source = Path(source)
    if source.is_dir():
        return source / "alignments.db"
    return source.with_name(f"{source.stem}_alignments.db")


# ---------------------------------------------------------------------------------------
# Array <-> blob helpers. Fixed little-endian dtypes keep files portable across machines.


def _blob(array: np.ndarray, dtype: np.dtype) -> bytes:
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def _array(blob: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    # Copy so callers get a writable array in native byte order.
    return np.frombuffer(blob, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _encode_mask(mask: np.ndarray) -> bytes:
    # Level 1: masks are mostly flat, so fast compression already gets most of the gain.
    return encode_gray_png(mask, 1)


def _decode_mask(png: bytes) -> np.ndarray:
    mask = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.ndim != 2:
        raise sqlite3.DatabaseError("stored mask is not a single-channel PNG")
    return mask


def _check_face(face: FaceRecord, frame_index: int) -> None:
    where = f"frame {frame_index} face {face.face_index}"
    if np.shape(face.landmarks) != (LANDMARK_COUNT, 2):
        raise ValueError(f"{where}: landmarks must be (68, 2), got {np.shape(face.landmarks)}")
    if np.shape(face.matrix) != (2, 3):
        raise ValueError(f"{where}: matrix must be (2, 3), got {np.shape(face.matrix)}")
    if len(face.box) != 4:
        raise ValueError(f"{where}: box must be (left, top, right, bottom)")
    if face.identity is not None and np.shape(face.identity) != (IDENTITY_SIZE,):
        raise ValueError(f"{where}: identity must be (128,), got {np.shape(face.identity)}")
    for name, mask in face.masks.items():
        if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != np.uint8:
            raise ValueError(f"{where}: mask {name!r} must be a 2-D uint8 array")


_T = TypeVar("_T")


class AlignmentsStore:
    """An open alignments file. Use :meth:`open`; close it, or use it as a context manager."""

    def __init__(self, connection: sqlite3.Connection, path: Path, mode: OpenMode) -> None:
        self._conn = connection
        self._path = path
        self._mode = mode
        # One connection may be shared by a pipeline writer thread and a GUI reader thread.
        self._lock = threading.RLock()

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], mode: OpenMode = "r") -> AlignmentsStore:
        """Open the store at ``path``: ``r`` read-only, ``r+`` read-write, ``a`` create-or-open."""
        if mode not in ("r", "r+", "a"):
            raise ValueError(f"mode must be 'r', 'r+' or 'a', not {mode!r}")
        path = Path(path)
        if path.is_dir():
            raise InputError(
                f"{path} is a folder, not an alignments file",
                "pass the alignments file itself with -p/--alignments",
            )
        exists = path.exists()
        if not exists and mode != "a":
            raise InputError(
                f"alignments file {path} not found",
                "check the path, or run `faceforge extract` on the source first",
            )
        if exists:
            _check_sqlite_header(path)
        if mode != "r":
            _check_writable(path, exists)

        connection = _connect(path, mode)
        try:
            store = cls(connection, path, mode)
            store._prepare()
        except BaseException:
            connection.close()
            raise
        return store

    def _prepare(self) -> None:
        conn = self._conn
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            # The header said SQLite, so the rest of the file is damaged.
            raise _database_error(self._path, exc) from exc

        if app_id == 0 and tables == 0:
            # A new (or empty) file: only create-or-open may initialise it.
            if self._mode != "a":
                raise _not_alignments(self._path, "it is an empty database")
            self._create_schema()
            self._set_write_pragmas()
            return
        if app_id != ALIGNMENTS_APPLICATION_ID:
            raise _not_alignments(self._path, "it is a database of another application")
        if version > ALIGNMENTS_SCHEMA_VERSION:
            raise FormatError(
                f"{self._path} uses alignments schema version {version}, but this faceforge "
                f"reads versions up to {ALIGNMENTS_SCHEMA_VERSION}",
                "upgrade faceforge to open it",
            )
        if version < ALIGNMENTS_SCHEMA_VERSION:
            # Before switching to WAL, so the backup is a byte-for-byte copy of the original.
            self._migrate(version)
        if self._mode != "r":
            self._set_write_pragmas()

    def _set_write_pragmas(self) -> None:
        # WAL + synchronous=NORMAL: a commit is an append to the -wal file without fsync, so a
        # 32-frame batch commits in milliseconds; a killed process keeps every committed batch
        # (only an OS crash or power cut can lose the last few).
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")

    def _create_schema(self) -> None:
        with self._transaction():
            for statement in _SCHEMA_V2.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA application_id={ALIGNMENTS_APPLICATION_ID}")
            self._conn.execute(f"PRAGMA user_version={ALIGNMENTS_SCHEMA_VERSION}")

    def _migrate(self, from_version: int) -> None:
        if from_version < 1:
            raise FormatError(
                f"{self._path} has unknown alignments schema version {from_version}",
                "re-run `faceforge extract` to rebuild it",
            )
        if self._mode == "r":
            # Never write a file opened read-only: migrate a copy in memory instead.
            memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._conn.backup(memory)
            self._conn.close()
            self._conn = memory
        else:
            backup = self._path.with_name(f"{self._path.name}.v{from_version}.bak")
            try:
                # Checkpoint first so the copy holds every committed row.
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                shutil.copy2(self._path, backup)
            except OSError as exc:
                raise OutputError(
                    f"cannot back up {self._path} to {backup} before upgrading it: "
                    f"{exc.strerror}",
                    "free some disk space or make the folder writable",
                ) from exc
        steps = {1: _migrate_1_to_2}
        try:
            # All steps in one transaction: a failure leaves the file at its old version.
            with self._transaction():
                for version in range(from_version, ALIGNMENTS_SCHEMA_VERSION):
                    steps[version](self._conn)
                self._conn.execute(f"PRAGMA user_version={ALIGNMENTS_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise FormatError(
                f"cannot upgrade {self._path} from alignments schema version {from_version} "
                f"to {ALIGNMENTS_SCHEMA_VERSION}: {exc}",
                "the file was left unchanged; re-run `faceforge extract` to rebuild it",
            ) from exc

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def mode(self) -> OpenMode:
        return self._mode

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the file. A writable store is switched back to a single self-contained file."""
        with self._lock:
            if self._conn is None:
                return
            if self._mode != "r":
                try:
                    # Leaves no -wal/-shm beside the file, so it can be copied or opened
                    # read-only from a read-only folder. Fails harmlessly if others have it open.
                    self._conn.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.DatabaseError:
                    pass
            self._conn.close()
            self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> AlignmentsStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AlignmentsStore({str(self._path)!r}, mode={self._mode!r})"

    # -- metadata ------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """All metadata as a dict of JSON values."""
        rows = self._read(
            lambda c: c.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        )
        return {key: json.loads(value) for key, value in rows}

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._read(
            lambda c: c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value (tool version, source, fps, plugins, run status...)."""
        text = json.dumps(value)
        self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, text)
            )
        )

    def update_meta(self, values: dict[str, Any]) -> None:
        """Set several metadata values in one transaction."""
        rows = [(key, json.dumps(value)) for key, value in values.items()]
        self._write(lambda c: c.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows))

    # -- writing frames ------------------------------------------------------------------

    def add_frames(self, frames: Iterable[FrameRecord]) -> None:
        """Insert frames with their faces in one transaction, replacing frames of equal index."""
        # Later duplicates of an index win, as if they had been added one after another.
        batch = {frame.index: frame for frame in frames}
        frame_rows, face_rows, mask_rows = [], [], []
        # Encode outside the transaction so the write lock is held as briefly as possible.
        for frame in batch.values():
            if frame.index < 0:
                raise ValueError(f"frame index must be >= 0, got {frame.index}")
            frame_rows.append(
                (frame.index, frame.name, int(frame.width), int(frame.height), frame.timestamp_s)
            )
            seen: set[int] = set()
            for face in frame.faces:
                if face.face_index in seen:
                    raise ValueError(f"frame {frame.index} has face index {face.face_index} twice")
                seen.add(face.face_index)
                _check_face(face, frame.index)
                left, top, right, bottom = (float(v) for v in face.box)
                face_rows.append((
                    frame.index, face.face_index, left, top, right, bottom, float(face.score),
                    _blob(face.landmarks, _F32), _blob(face.matrix, _F64),
                    face.detector, face.landmarker,
                    None if face.identity is None else _blob(face.identity, _F32),
                    None if face.thumbnail is None else bytes(face.thumbnail),
                ))
                for name, mask in face.masks.items():
                    mask_rows.append((frame.index, face.face_index, name, _encode_mask(mask)))
        indices = [(index,) for index in batch]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM masks WHERE frame_idx = ?", indices)
            conn.executemany("DELETE FROM faces WHERE frame_idx = ?", indices)
            conn.executemany("INSERT OR REPLACE INTO frames VALUES (?, ?, ?, ?, ?)", frame_rows)
            conn.executemany(
                "INSERT INTO faces VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", face_rows
            )
            conn.executemany("INSERT INTO masks VALUES (?, ?, ?, ?)", mask_rows)

        self._write(write)

    def remove_faces(self, keys: Iterable[tuple[int, int]]) -> int:
        """Remove the given ``(frame_index, face_index)`` faces; returns how many existed.

        Frames stay recorded as processed (with fewer faces) and the remaining faces keep their
        indices, so face image file names stay valid.
        """
        pairs = [(int(frame), int(face)) for frame, face in keys]

        def write(conn: sqlite3.Connection) -> int:
            conn.executemany("DELETE FROM masks WHERE frame_idx = ? AND face_index = ?", pairs)
            before = conn.total_changes
            conn.executemany("DELETE FROM faces WHERE frame_idx = ? AND face_index = ?", pairs)
            return conn.total_changes - before

        return self._write(write)

    def keep_only_faces(self, keys: Iterable[tuple[int, int]]) -> int:
        """Remove every face not among the given ``(frame_index, face_index)``; returns the count.

        This is what a curated faces folder asks for: faces whose images were deleted go.
        """
        pairs = {(int(frame), int(face)) for frame, face in keys}

        def write(conn: sqlite3.Connection) -> int:
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS keep "
                "(frame_idx INTEGER, face_index INTEGER, PRIMARY KEY (frame_idx, face_index))"
            )
            conn.execute("DELETE FROM temp.keep")
            conn.executemany("INSERT INTO temp.keep VALUES (?, ?)", pairs)
            doomed = (
                "SELECT frame_idx, face_index FROM faces EXCEPT "
                "SELECT frame_idx, face_index FROM temp.keep"
            )
            conn.execute(f"DELETE FROM masks WHERE (frame_idx, face_index) IN ({doomed})")
            before = conn.total_changes
            conn.execute(f"DELETE FROM faces WHERE (frame_idx, face_index) IN ({doomed})")
            removed = conn.total_changes - before
            conn.execute("DELETE FROM temp.keep")
            return removed

        return self._write(write)

    # -- reading -------------------------------------------------------------------------

    def frame(self, index: int) -> FrameRecord | None:
        """The frame of that index with its faces, or None if it was not processed."""
        frames = self._read_frames("WHERE idx = ?", (index,), 1)
        return frames[0] if frames else None

    def iter_frames(self) -> Iterator[FrameRecord]:
        """Every frame in index order, with its faces."""
        last = -1
        while True:
            chunk = self._read_frames("WHERE idx > ?", (last,), _ITER_CHUNK_FRAMES)
            if not chunk:
                return
            yield from chunk
            last = chunk[-1].index

    def done_frame_indices(self) -> set[int]:
        """Indices of every processed frame, with or without faces: what a resumed run skips."""
        rows = self._read(lambda c: c.execute("SELECT idx FROM frames").fetchall())
        return {row[0] for row in rows}

    def frame_count(self) -> int:
        return self._read(lambda c: c.execute("SELECT count(*) FROM frames").fetchone()[0])

    def face_count(self) -> int:
        return self._read(lambda c: c.execute("SELECT count(*) FROM faces").fetchone()[0])

    def summary(self) -> dict[str, Any]:
        """Counts for a report: frames, faces, frames without / with several faces, and meta."""

        def read(conn: sqlite3.Connection) -> tuple[int, ...]:
            return conn.execute(
                "SELECT count(*), coalesce(sum(n), 0), "
                "coalesce(sum(n = 0), 0), coalesce(sum(n > 1), 0) FROM ("
                "  SELECT (SELECT count(*) FROM faces WHERE frame_idx = idx) AS n FROM frames)"
            ).fetchone()

        frames, faces, without, multiple = self._read(read)
        return {
            "path": str(self._path),
            "schema_version": self.schema_version,
            "frames": frames,
            "faces": faces,
            "frames_without_faces": without,
            "frames_with_multiple_faces": multiple,
            "meta": self.meta(),
        }

    def _read_frames(self, where: str, params: tuple[Any, ...], limit: int) -> list[FrameRecord]:
        def read(conn: sqlite3.Connection) -> list[FrameRecord]:
            # One snapshot for the three queries, so a concurrent writer cannot split a frame.
            in_txn = conn.in_transaction
            if not in_txn:
                conn.execute("BEGIN")
            try:
                frame_rows = conn.execute(
                    f"SELECT idx, name, width, height, timestamp_s FROM frames {where} "
                    f"ORDER BY idx LIMIT {int(limit)}",
                    params,
                ).fetchall()
                if not frame_rows:
                    return []
                span = (frame_rows[0][0], frame_rows[-1][0])
                face_rows = conn.execute(
                    "SELECT * FROM faces WHERE frame_idx BETWEEN ? AND ? "
                    "ORDER BY frame_idx, face_index",
                    span,
                ).fetchall()
                mask_rows = conn.execute(
                    "SELECT frame_idx, face_index, name, png FROM masks "
                    "WHERE frame_idx BETWEEN ? AND ? ORDER BY frame_idx, face_index, name",
                    span,
                ).fetchall()
            finally:
                if not in_txn:
                    conn.execute("COMMIT")
            masks: dict[tuple[int, int], dict[str, np.ndarray]] = {}
            for frame_idx, face_index, name, png in mask_rows:
                masks.setdefault((frame_idx, face_index), {})[name] = _decode_mask(png)
            frames = {
                idx: FrameRecord(idx, name, width, height, timestamp_s)
                for idx, name, width, height, timestamp_s in frame_rows
            }
            for row in face_rows:
                (frame_idx, face_index, left, top, right, bottom, score, landmarks, matrix,
                 detector, landmarker, identity, thumbnail) = row
                frames[frame_idx].faces.append(FaceRecord(
                    face_index=face_index,
                    box=(left, top, right, bottom),
                    score=score,
                    landmarks=_array(landmarks, _F32, (LANDMARK_COUNT, 2)),
                    matrix=_array(matrix, _F64, (2, 3)),
                    masks=masks.get((frame_idx, face_index), {}),
                    identity=None if identity is None else _array(identity, _F32, (IDENTITY_SIZE,)),
                    thumbnail=None if thumbnail is None else bytes(thumbnail),
                    detector=detector,
                    landmarker=landmarker,
                ))
            return list(frames.values())

        return self._read(read)

    # -- JSON ----------------------------------------------------------------------------

    def export_json(self, path: str | os.PathLike[str]) -> None:
        """Write everything to a JSON file (arrays as lists, masks and thumbnails base64)."""
        path = Path(path)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                # Streamed frame by frame so a long video does not need the whole file in memory.
                head = {
                    "format": JSON_FORMAT_NAME,
                    "schema_version": ALIGNMENTS_SCHEMA_VERSION,
                    "meta": self.meta(),
                }
                out.write(json.dumps(head)[:-1] + ', "frames": [\n')
                for number, frame in enumerate(self.iter_frames()):
                    out.write(",\n" if number else "")
                    out.write(json.dumps(_frame_to_json(frame)))
                out.write("\n]}\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(
                f"cannot write {path}: {exc.strerror}", "choose a writable output file"
            ) from exc

    @classmethod
    def import_json(
        cls,
        json_path: str | os.PathLike[str],
        store_path: str | os.PathLike[str] | None = None,
    ) -> AlignmentsStore:
        """Build a new store from :meth:`export_json` output; returns it open read-write.

        ``store_path`` defaults to the JSON path with a ``.db`` suffix and must not exist yet.
        """
        json_path = Path(json_path)
        store_path = Path(store_path) if store_path is not None else json_path.with_suffix(".db")
        try:
            with open(json_path, encoding="utf-8") as handle:
                document = json.load(handle)
        except FileNotFoundError as exc:
            raise InputError(f"{json_path} not found", "check the path") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(
                f"{json_path} is not readable JSON: {exc}",
                "pass a file written by `faceforge tools alignments export`",
            ) from exc
        if not isinstance(document, dict) or document.get("format") != JSON_FORMAT_NAME:
            raise FormatError(
                f"{json_path} is not a faceforge alignments JSON export",
                "pass a file written by `faceforge tools alignments export`",
            )
        version = document.get("schema_version")
        if not isinstance(version, int) or version > ALIGNMENTS_SCHEMA_VERSION:
            raise FormatError(
                f"{json_path} was exported with alignments schema version {version}, but this "
                f"faceforge reads versions up to {ALIGNMENTS_SCHEMA_VERSION}",
                "upgrade faceforge to import it",
            )
        try:
            frames = [_frame_from_json(item) for item in document["frames"]]
            meta = dict(document["meta"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(
                f"{json_path} has an invalid alignments entry: {exc!r}",
                "re-export it, or fix the entry by hand",
            ) from exc
        if store_path.exists():
            raise OutputError(
                f"{store_path} already exists", "remove it or choose another store path"
            )
        store = cls.open(store_path, "a")
        try:
            store.update_meta(meta)
            store.add_frames(frames)
        except ValueError as exc:  # a record of the wrong shape
            store.close()
            store_path.unlink(missing_ok=True)
            raise FormatError(
                f"{json_path} has an invalid alignments entry: {exc}",
                "re-export it, or fix the entry by hand",
            ) from exc
        except BaseException:
            store.close()
            store_path.unlink(missing_ok=True)
            raise
        return store

    # -- internals -----------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def _read(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            self._check_open()
            try:
                return body(self._conn)
            except sqlite3.DatabaseError as exc:
                raise _database_error(self._path, exc) from exc

    def _write(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            self._check_open()
            if self._mode == "r":
                raise OutputError(
                    f"{self._path} is open read-only", "open it with mode 'r+' to change it"
                )
            try:
                with self._transaction():
                    return body(self._conn)
            except sqlite3.DatabaseError as exc:
                raise _database_error(self._path, exc) from exc

    def _check_open(self) -> None:
        if self._conn is None:
            raise ValueError(f"{self._path} is closed")


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (KeyboardInterrupt included)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        # IMMEDIATE takes the write lock up front, so "database is locked" cannot appear halfway.
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:
            self._conn.execute("ROLLBACK")


# ---------------------------------------------------------------------------------------
# Opening helpers


def _connect(path: Path, mode: OpenMode) -> sqlite3.Connection:
    uri_mode = {"r": "ro", "r+": "rw", "a": "rwc"}[mode]
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?mode={uri_mode}"
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per batch.
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=10000")
    except sqlite3.DatabaseError as exc:
        if mode == "r":
            raise InputError(f"cannot open {path}: {exc}", "check the file's permissions") from exc
        raise OutputError(f"cannot open {path} for writing: {exc}", _ALIGNMENTS_HINT) from exc
    return conn


def _check_sqlite_header(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
            size = handle.seek(0, os.SEEK_END)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", "check its permissions") from exc
    if size == 0:
        return  # An empty file is an empty database: "a" initialises it, "r"/"r+" reject it.
    if not header.startswith(_SQLITE_MAGIC) or len(header) < 100:
        raise _not_alignments(path, "it is not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    # The in-header page count is valid when the two change counters agree (SQLite >= 3.7).
    if header[24:28] == header[92:96] and size < page_size * page_count:
        raise FormatError(
            f"{path} is truncated ({size} of {page_size * page_count} bytes)",
            "restore it from a backup or re-run `faceforge extract`",
        )


def _check_writable(path: Path, exists: bool) -> None:
    target = path if exists else path.parent
    if not exists and not target.is_dir():
        raise OutputError(
            f"cannot create {path}: {target} is not a folder", _ALIGNMENTS_HINT
        )
    if not os.access(target, os.W_OK):
        raise OutputError(
            f"cannot write {path}: {'the file' if exists else 'its folder'} is read-only",
            _ALIGNMENTS_HINT,
        )


def _not_alignments(path: Path, reason: str) -> FormatError:
    if path.suffix.lower() == ".fsa":
        hint = (
            "it looks like a Faceswap alignments file: import it with "
            "`faceforge tools alignments import`"
        )
    elif path.suffix.lower() == ".json":
        hint = "to load a JSON export, use `faceforge tools alignments import`"
    else:
        hint = "pass the alignments file written by `faceforge extract` (-p/--alignments)"
    return FormatError(f"{path} is not a faceforge alignments file ({reason})", hint)


def _database_error(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return OutputError(
            f"{path} is in use by another process", "wait for the other faceforge run to finish"
        )
    if "full" in text or "disk i/o" in text or "readonly" in text or "read-only" in text:
        return OutputError(f"cannot write {path}: {exc}", "free disk space or check permissions")
    return FormatError(
        f"{path} is damaged: {exc}", "restore it from a backup or re-run `faceforge extract`"
    )


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE faces ADD COLUMN identity BLOB")
    conn.execute("ALTER TABLE faces ADD COLUMN thumbnail BLOB")
    rows = conn.execute("SELECT key, value FROM meta").fetchall()
    converted = []
    for key, value in rows:
        parse = _V1_NUMERIC_META.get(key)
        try:
            typed = parse(value) if parse is not None else value
        except ValueError:
            typed = value
        converted.append((json.dumps(typed), key))
    conn.executemany("UPDATE meta SET value = ? WHERE key = ?", converted)


# ---------------------------------------------------------------------------------------
# JSON mapping


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _frame_to_json(frame: FrameRecord) -> dict[str, Any]:
    return {
        "index": frame.index,
        "name": frame.name,
        "width": frame.width,
        "height": frame.height,
        "timestamp_s": frame.timestamp_s,
        "faces": [
            {
                "face_index": face.face_index,
                "box": [float(v) for v in face.box],
                "score": float(face.score),
                "landmarks": np.asarray(face.landmarks, np.float32).tolist(),
                "matrix": np.asarray(face.matrix, np.float64).tolist(),
                "masks": {name: _b64(_encode_mask(mask)) for name, mask in face.masks.items()},
                "identity": None
                if face.identity is None
                else np.asarray(face.identity, np.float32).tolist(),
                "thumbnail": None if face.thumbnail is None else _b64(face.thumbnail),
                "detector": face.detector,
                "landmarker": face.landmarker,
            }
            for face in frame.faces
        ],
    }


def _frame_from_json(item: dict[str, Any]) -> FrameRecord:
    faces = []
    for face in item["faces"]:
        masks = {}
        for name, text in face["masks"].items():
            mask = cv2.imdecode(np.frombuffer(base64.b64decode(text), np.uint8),
                                cv2.IMREAD_UNCHANGED)
            if mask is None or mask.ndim != 2:
                raise ValueError(f"mask {name!r} of frame {item['index']} is not a 1-channel PNG")
            masks[name] = mask
        identity = face.get("identity")
        thumbnail = face.get("thumbnail")
        faces.append(FaceRecord(
            face_index=int(face["face_index"]),
            box=tuple(float(v) for v in face["box"]),  # type: ignore[arg-type]
            score=float(face["score"]),
            landmarks=np.asarray(face["landmarks"], np.float32).reshape(LANDMARK_COUNT, 2),
            matrix=np.asarray(face["matrix"], np.float64).reshape(2, 3),
            masks=masks,
            identity=None if identity is None else np.asarray(identity, np.float32),
            thumbnail=None if thumbnail is None else base64.b64decode(thumbnail),
            detector=str(face.get("detector", "")),
            landmarker=str(face.get("landmarker", "")),
        ))
    timestamp = item.get("timestamp_s")
    return FrameRecord(
        index=int(item["index"]),
        name=str(item["name"]),
        width=int(item["width"]),
        height=int(item["height"]),
        timestamp_s=None if timestamp is None else float(timestamp),
        faces=faces,
    )
