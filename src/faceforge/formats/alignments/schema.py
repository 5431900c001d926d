"""The alignments file's SQLite schema: how a file is recognised as ours, the tables of the
current version, and the migrations that bring older files up to it.

Schema history (``PRAGMA user_version``):

* 1: faces without ``identity`` and ``thumbnail`` columns; meta values stored as plain text.
* 2: adds ``faces.identity`` and ``faces.thumbnail``; meta values stored as JSON.

Older files are migrated in place when opened for writing, after a copy of the original is
kept as ``<name>.v<old>.bak``. Read-only opening migrates an in-memory copy and leaves the
file untouched.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faceforge.errors import FormatError, InputError, OutputError
from faceforge.io.files import atomic_copy, open_input

# "FFal" read as a big-endian int32: marks the SQLite file as a faceforge alignments store.
ALIGNMENTS_APPLICATION_ID = 0x4646616C
ALIGNMENTS_SCHEMA_VERSION = 2

_SQLITE_MAGIC = b"SQLite format 3\x00"

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


class Transaction:
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
# Recognising the file


def check_sqlite_header(path: Path) -> None:
    """Refuse a file that is not SQLite, or whose header says it was cut short."""
    with open_input(path, "alignments file") as handle:
        header = handle.read(100)
        size = handle.seek(0, os.SEEK_END)
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


def _not_alignments(path: Path, reason: str) -> FormatError:
    """The error for a file that is something other than an alignments store."""
    if path.suffix.lower() == ".fsa":
        hint = (
            "it looks like a Faceswap alignments file: pass it to train -ala or convert -al "
            "as it is, or make a store of it with `faceforge tools alignments import`"
        )
    elif path.suffix.lower() == ".json":
        hint = "to load a JSON export, use `faceforge tools alignments import`"
    else:
        hint = "pass the alignments file written by `faceforge extract` (-p/--alignments)"
    return FormatError(f"{path} is not a faceforge alignments file ({reason})", hint)


def database_error(path: Path, exc: sqlite3.DatabaseError | UnicodeDecodeError) -> Exception:
    """What an SQLite error on the store at `path` means for the user."""
    if isinstance(exc, UnicodeDecodeError):  # text SQLite holds, or reports, is not UTF-8
        return FormatError(f"{path} is damaged: it holds text that is not UTF-8",
                           "restore it from a backup or re-run `faceforge extract`")
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


def prepare(
    conn: sqlite3.Connection, path: Path, *, create: bool, read_only: bool
) -> sqlite3.Connection:
    """Check that `conn` holds an alignments store this faceforge reads and bring it to the
    current schema: created in an empty file when `create`, migrated when older.

    Returns the connection to use from then on: an older store opened `read_only` is
    migrated in a copy in memory, and the file's connection is closed.
    """
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        # The header said SQLite, so the rest of the file is damaged.
        raise database_error(path, exc) from exc

    if app_id == 0 and tables == 0:
        # A new (or empty) file: only create-or-open may initialise it.
        if not create:
            raise _not_alignments(path, "it is an empty database")
        _create_schema(conn)
        return conn
    if app_id != ALIGNMENTS_APPLICATION_ID:
        raise _not_alignments(path, "it is a database of another application")
    if version > ALIGNMENTS_SCHEMA_VERSION:
        raise FormatError(
            f"{path} uses alignments schema version {version}, but this faceforge "
            f"reads versions up to {ALIGNMENTS_SCHEMA_VERSION}",
            "upgrade faceforge to open it",
        )
    if version < ALIGNMENTS_SCHEMA_VERSION:
        return _upgrade(conn, path, version, read_only=read_only)
    return conn


def _create_schema(conn: sqlite3.Connection) -> None:
    with Transaction(conn):
        for statement in _SCHEMA_V2.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id={ALIGNMENTS_APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={ALIGNMENTS_SCHEMA_VERSION}")


# ---------------------------------------------------------------------------------------
# Migrations


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


#: The step that takes a store from version `key` to `key + 1`.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2}


def _upgrade(
    conn: sqlite3.Connection, path: Path, from_version: int, *, read_only: bool
) -> sqlite3.Connection:
    if from_version < 1:
        raise FormatError(
            f"{path} has unknown alignments schema version {from_version}",
            "re-run `faceforge extract` to rebuild it",
        )
    # Done before the caller switches to WAL, so the backup is a byte-for-byte copy.
    if read_only:
        # Never write a file opened read-only: migrate a copy in memory instead.
        memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.backup(memory)
        conn.close()
        conn = memory
    else:
        _back_up(conn, path, from_version)
    try:
        # All steps in one transaction: a failure leaves the file at its old version.
        with Transaction(conn):
            for version in range(from_version, ALIGNMENTS_SCHEMA_VERSION):
                _MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version={ALIGNMENTS_SCHEMA_VERSION}")
    except BaseException as exc:
        if read_only:
            conn.close()  # the copy in memory; the file's connection is closed already
        if isinstance(exc, sqlite3.DatabaseError):
            raise FormatError(
                f"cannot upgrade {path} from alignments schema version {from_version} "
                f"to {ALIGNMENTS_SCHEMA_VERSION}: {exc}",
                "the file was left unchanged; re-run `faceforge extract` to rebuild it",
            ) from exc
        raise
    return conn


def _back_up(conn: sqlite3.Connection, path: Path, from_version: int) -> None:
    """Keep the file as it is now in `<name>.v<version>.bak` before migrating it."""
    backup = path.with_name(f"{path.name}.v{from_version}.bak")
    # Checkpoint first so the copy holds every committed row.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    try:
        atomic_copy(path, backup)
    except OutputError as exc:
        raise OutputError(
            f"cannot back up {path} before upgrading it: {exc.message}",
            "free some disk space or make the folder writable",
        ) from exc
    except OSError as exc:  # reading the store itself failed
        raise InputError(
            f"cannot read {path} to back it up before upgrading it: {exc.strerror or exc}",
            "check its permissions",
        ) from exc
