"""The alignments store: one SQLite file per source video or image folder.

It records, for every processed frame, the faces found in it (box, score, 68 landmarks,
alignment matrix, masks, identity embedding, thumbnail) plus free-form JSON metadata.
Extraction commits one batch of frames per transaction, so a killed run loses at most the
batch it was writing and resumes from :meth:`AlignmentsStore.done_frame_indices`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from faceforge.errors import FormatError, InputError, OutputError
from faceforge.formats.alignments.json_io import read_json_export, write_json_export
from faceforge.formats.alignments.records import (
    DamagedRecord,
    FrameRecord,
    decode_mask,
    encode_mask,
    face_from_row,
    face_row,
    frame_from_row,
)
from faceforge.formats.alignments.schema import (
    Transaction,
    check_sqlite_header,
    database_error,
    prepare,
)
from faceforge.formats.json_text import JsonProblem, parse_json
from faceforge.io.files import atomic_output, remove_stale_temporaries

OpenMode = Literal["r", "r+", "a"]
"""``r`` read-only, ``r+`` read-write of an existing file, ``a`` create-or-open."""

_ALIGNMENTS_HINT = "pass -p/--alignments to write it somewhere else"
# Frames read per query while iterating: bounds memory without a query per frame.
_ITER_CHUNK_FRAMES = 256

_T = TypeVar("_T")


def default_alignments_path(source: str | os.PathLike[str]) -> Path:
    """Where extraction writes the store by default: next to a video, inside an image folder."""
    source = Path(source)
    if source.is_dir():
        return source / "alignments.db"
    return source.with_name(f"{source.stem}_alignments.db")


class AlignmentsStore:
    """An open alignments file. Use :meth:`open`; close it, or use it as a context manager."""

    def __init__(self, connection: sqlite3.Connection, path: Path, mode: OpenMode) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._path = path
        self._mode = mode
        # One connection may be shared by a pipeline writer thread and a reader thread.
        self._lock = threading.RLock()

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], mode: OpenMode = "r") -> AlignmentsStore:
        """Open the store at ``path``: ``r`` read-only, ``r+`` read-write, ``a`` create-or-open.

        A store of an older schema is migrated (see `faceforge.formats.alignments.schema`).
        """
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
            check_sqlite_header(path)
        if mode != "r":
            _check_writable(path, exists)
        if exists:
            # Refuse a damaged or foreign file before anything writes to it (switching to
            # WAL alone rewrites its header) or anything relies on its tables.
            _validate_read_only(path)

        connection = _connect(path, mode)
        try:
            connection = prepare(connection, path, create=mode == "a", read_only=mode == "r")
            if mode != "r":
                # WAL + synchronous=NORMAL: a commit is an append to the -wal file without
                # fsync, so a 32-frame batch commits in milliseconds; a killed process keeps
                # every committed batch (only an OS crash or power cut can lose the last few).
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            connection.close()
            raise
        return cls(connection, path, mode)

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def mode(self) -> OpenMode:
        return self._mode

    @property
    def schema_version(self) -> int:
        return self._read(lambda c: int(c.execute("PRAGMA user_version").fetchone()[0]))

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
            self._conn = None

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
        return {key: self._meta_value(key, value) for key, value in rows}

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._read(
            lambda c: c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return default if row is None else self._meta_value(key, row[0])

    def _meta_value(self, key: str, text: Any) -> Any:
        try:
            return parse_json(text if isinstance(text, (str, bytes)) else b"")
        except JsonProblem as exc:
            raise FormatError(
                f"{self._path} is damaged: its metadata {key!r} is unreadable ({exc})",
                "restore it from a backup or re-run `faceforge extract`",
            ) from None

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
                face_rows.append(face_row(frame.index, face))
                for name, mask in face.masks.items():
                    mask_rows.append((frame.index, face.face_index, name, encode_mask(mask)))
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
                masks.setdefault((frame_idx, face_index), {})[name] = _stored_mask(png)
            frames = {row[0]: frame_from_row(row) for row in frame_rows}
            for row in face_rows:
                frame_idx, face_index = row[:2]
                if frame_idx not in frames:
                    raise DamagedRecord(f"a face refers to frame {frame_idx!r}, which is absent")
                faces = frames[frame_idx].faces
                faces.append(face_from_row(row, masks.get((frame_idx, face_index), {})))
            return list(frames.values())

        return self._read(read)

    # -- JSON ----------------------------------------------------------------------------

    def export_json(self, path: str | os.PathLike[str]) -> None:
        """Write everything to a JSON file, atomically (see `json_io.write_json_export`)."""
        write_json_export(path, self.meta(), self.iter_frames())

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
        return cls.create(store_path, lambda: read_json_export(json_path), json_path)

    @classmethod
    def create(
        cls,
        store_path: str | os.PathLike[str],
        read: Callable[[], tuple[dict[str, Any], Iterable[FrameRecord]]],
        source: Path,
    ) -> AlignmentsStore:
        """A new store filled with what `read()` gives (meta, frames); returns it open
        read-write. Refused when the path exists (before reading anything); built under a
        temporary name that takes the real one only when complete, and a record of the wrong
        shape is a FormatError naming `source`, the file it was read from."""
        store_path = Path(store_path)
        if store_path.exists():
            raise OutputError(
                f"{store_path} already exists", "remove it or choose another store path"
            )
        meta, frames = read()
        remove_stale_temporaries(store_path.parent)
        # Built under a temporary name: a killed import leaves no half store under the real one.
        with atomic_output(store_path) as temp:
            with cls.open(temp, "a") as store:
                try:
                    store.update_meta(meta)
                    store.add_frames(frames)
                except ValueError as exc:  # a record of the wrong shape
                    raise FormatError(
                        f"{source} has an invalid alignments entry: {exc}",
                        "re-export it, or fix the entry by hand",
                    ) from exc
        return cls.open(store_path, "r+")

    # -- Faceswap .fsa --------------------------------------------------------------------

    def export_fsa(self, path: str | os.PathLike[str]) -> None:
        """Write everything as a Faceswap alignments file, atomically (see `formats.fsa`)."""
        from faceforge.formats.fsa import fsa_from_frames, write_fsa

        meta = self.meta()
        meta.pop("imported_from", None)
        write_fsa(path, fsa_from_frames(meta, self.iter_frames()))

    @classmethod
    def import_fsa(
        cls,
        fsa_path: str | os.PathLike[str],
        store_path: str | os.PathLike[str] | None = None,
        source: str | os.PathLike[str] | None = None,
    ) -> AlignmentsStore:
        """Build a new store from a Faceswap ``.fsa`` file; returns it open read-write.

        ``store_path`` defaults to the .fsa path with a ``.db`` suffix and must not exist yet;
        ``source`` is the video or image folder the file was made from (frame sizes, times).
        """
        from faceforge.formats.fsa import fsa_to_store

        fsa_path = Path(fsa_path)
        store_path = Path(store_path) if store_path is not None else fsa_path.with_suffix(".db")
        fsa_to_store(fsa_path, store_path, source)
        return cls.open(store_path, "r+")

    # -- internals -----------------------------------------------------------------------

    def _read(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            conn = self._open_connection()
            try:
                return body(conn)
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                raise database_error(self._path, exc) from exc
            except DamagedRecord as exc:
                raise FormatError(
                    f"{self._path} is damaged: {exc}",
                    "restore it from a backup or re-run `faceforge extract`",
                ) from None

    def _write(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            conn = self._open_connection()
            if self._mode == "r":
                raise OutputError(
                    f"{self._path} is open read-only", "open it with mode 'r+' to change it"
                )
            try:
                with Transaction(conn):
                    return body(conn)
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                raise database_error(self._path, exc) from exc

    def _open_connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError(f"{self._path} is closed")
        return self._conn


# ---------------------------------------------------------------------------------------
# Opening helpers


def _connect(path: Path, mode: OpenMode) -> sqlite3.Connection:
    uri_mode = {"r": "ro", "r+": "rw", "a": "rwc"}[mode]
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?mode={uri_mode}"
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per batch.
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=10000")
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        if mode == "r":
            raise InputError(f"cannot open {path}: {exc}", "check the file's permissions") from exc
        raise OutputError(f"cannot open {path} for writing: {exc}", _ALIGNMENTS_HINT) from exc
    return conn


#: Every column of every table, as this schema reads them.
_COLUMNS = {
    "meta": "key, value",
    "frames": "idx, name, width, height, timestamp_s",
    "faces": "frame_idx, face_index, left, top, right, bottom, score, landmarks, matrix, "
             "detector, landmarker, identity, thumbnail",
    "masks": "frame_idx, face_index, name, png",
}


def _validate_read_only(path: Path) -> None:
    """Check, through a read-only connection, that the existing file `path` is an alignments
    store that is whole: SQLite's own check, every table and column, readable metadata.
    Raises FormatError (or InputError) and changes nothing."""
    if path.stat().st_size == 0:
        return  # an empty file: "a" makes a store of it
    connection = _connect(path, "r")
    try:
        try:
            app_id = connection.execute("PRAGMA application_id").fetchone()[0]
            tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise database_error(path, exc) from exc
        if app_id == 0 and tables == 0:
            return  # an empty database: "a" initialises it, "r+" refuses it when opening
        connection = prepare(connection, path, create=False, read_only=True)
        try:
            problem = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
            for table, columns in _COLUMNS.items():
                connection.execute(f"SELECT {columns} FROM {table} LIMIT 0").fetchall()
            rows = connection.execute("SELECT key, value FROM meta").fetchall()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise database_error(path, exc) from exc
        if problem != "ok":
            raise database_error(path, sqlite3.DatabaseError(problem))
        for key, value in rows:
            try:
                parse_json(value if isinstance(value, (str, bytes)) else b"")
            except JsonProblem as exc:
                raise FormatError(
                    f"{path} is damaged: its metadata {key!r} is unreadable ({exc})",
                    "restore it from a backup or re-run `faceforge extract`",
                ) from None
    finally:
        connection.close()


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


def _stored_mask(png: bytes) -> np.ndarray:
    mask = decode_mask(png)
    if mask is None:
        # A DatabaseError, so that `_read` reports the store as damaged.
        raise sqlite3.DatabaseError("stored mask is not a single-channel PNG")
    return mask
