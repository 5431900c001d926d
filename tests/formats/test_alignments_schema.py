"""The alignments file's schema: how a file is recognised as a store, bad files refused, and
older schemas migrated (with a backup) without losing anything."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from faceforge.errors import FormatError, OutputError
from faceforge.formats import (
    ALIGNMENTS_APPLICATION_ID,
    ALIGNMENTS_SCHEMA_VERSION,
    AlignmentsStore,
)
from tests.formats.alignments_samples import make_frame


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# -- marking ---------------------------------------------------------------------------


def test_file_is_marked_with_application_id_and_schema_version(tmp_path: Path) -> None:
    AlignmentsStore.open(tmp_path / "a.db", "a").close()
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("PRAGMA application_id").fetchone()[0] == ALIGNMENTS_APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == ALIGNMENTS_SCHEMA_VERSION
    conn.close()
    # Closing leaves one self-contained file, nothing beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db"]


# -- recognising the file --------------------------------------------------------------


def test_text_file_renamed_db_is_not_an_alignments_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("just some text, long enough to look like something " * 10)
    with pytest.raises(FormatError, match="is not a faceforge alignments file") as info:
        AlignmentsStore.open(path, "a")
    assert "notes.db" in info.value.message
    assert info.value.hint


def test_faceswap_fsa_file_opened_as_a_store_points_at_the_import(tmp_path: Path) -> None:
    path = tmp_path / "alignments.fsa"
    path.write_bytes(b"x\x9c" + os.urandom(200))  # zlib-looking bytes, like a real .fsa
    with pytest.raises(FormatError) as info:
        AlignmentsStore.open(path, "r")
    assert "Faceswap alignments file" in info.value.hint
    assert "tools alignments import" in info.value.hint


def test_sqlite_database_of_another_application_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.execute("INSERT INTO songs VALUES ('x')")
    conn.commit()
    conn.close()
    for mode in ("r", "r+", "a"):
        with pytest.raises(FormatError, match="is not a faceforge alignments file"):
            AlignmentsStore.open(path, mode)
    # ... and it was not modified.
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0
    assert conn.execute("SELECT title FROM songs").fetchall() == [("x",)]
    conn.close()


def test_empty_file_is_rejected_for_reading_and_initialised_by_create(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(FormatError, match="is not a faceforge alignments file"):
        AlignmentsStore.open(path, "r")
    with pytest.raises(FormatError):
        AlignmentsStore.open(path, "r+")
    with AlignmentsStore.open(path, "a") as store:
        assert store.frame_count() == 0


def test_newer_schema_version_asks_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    AlignmentsStore.open(path, "a").close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={ALIGNMENTS_SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(FormatError) as info:
        AlignmentsStore.open(path, "r+")
    assert f"version {ALIGNMENTS_SCHEMA_VERSION + 1}" in info.value.message
    assert f"up to {ALIGNMENTS_SCHEMA_VERSION}" in info.value.message
    assert "upgrade faceforge" in info.value.hint


def test_truncated_store_is_a_format_error(tmp_path: Path, rng) -> None:
    path = tmp_path / "a.db"
    with AlignmentsStore.open(path, "a") as store:
        store.add_frames([make_frame(rng, i) for i in range(64)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="truncated"):
        AlignmentsStore.open(path, "r")


def test_garbage_after_a_valid_header_is_a_format_error(tmp_path: Path, rng) -> None:
    path = tmp_path / "a.db"
    with AlignmentsStore.open(path, "a") as store:
        store.add_frames([make_frame(rng, i) for i in range(64)])
    data = bytearray(path.read_bytes())
    data[100:] = os.urandom(len(data) - 100)  # keep the 100-byte header, scramble the rest
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError):
        with AlignmentsStore.open(path, "r") as store:
            list(store.iter_frames())


# -- migration -------------------------------------------------------------------------

V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE frames (idx INTEGER PRIMARY KEY, name TEXT NOT NULL, width INTEGER NOT NULL,
                     height INTEGER NOT NULL, timestamp_s REAL);
CREATE TABLE faces (frame_idx INTEGER NOT NULL, face_index INTEGER NOT NULL,
                    left REAL NOT NULL, top REAL NOT NULL, right REAL NOT NULL,
                    bottom REAL NOT NULL, score REAL NOT NULL, landmarks BLOB NOT NULL,
                    matrix BLOB NOT NULL, detector TEXT NOT NULL, landmarker TEXT NOT NULL,
                    PRIMARY KEY (frame_idx, face_index)) WITHOUT ROWID;
CREATE TABLE masks (frame_idx INTEGER NOT NULL, face_index INTEGER NOT NULL,
                    name TEXT NOT NULL, png BLOB NOT NULL,
                    PRIMARY KEY (frame_idx, face_index, name)) WITHOUT ROWID;
"""


def build_v1_store(path: Path, landmarks: np.ndarray, matrix: np.ndarray, mask_png: bytes) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.execute(f"PRAGMA application_id={ALIGNMENTS_APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("fps", "25.0"), ("frame_count", "3"), ("source", "clip.mp4"), ("tool", "0.0.1")],
    )
    conn.executemany(
        "INSERT INTO frames VALUES (?, ?, ?, ?, ?)",
        [(0, "clip_000000", 640, 480, 0.0), (1, "clip_000001", 640, 480, 0.04)],
    )
    conn.execute(
        "INSERT INTO faces VALUES (0, 0, 1.5, 2.5, 101.5, 122.5, 0.93, ?, ?, 'dlib-hog', 'dlib')",
        (landmarks.astype("<f4").tobytes(), matrix.astype("<f8").tobytes()),
    )
    conn.execute("INSERT INTO masks VALUES (0, 0, 'extended', ?)", (mask_png,))
    conn.commit()
    conn.close()


def v1_fixture(tmp_path: Path, rng) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    import cv2

    landmarks = rng.uniform(0, 640, (68, 2)).astype(np.float32)
    matrix = rng.normal(size=(2, 3))
    mask = np.zeros((64, 64), np.uint8)
    mask[10:50, 20:40] = 255
    path = tmp_path / "old.db"
    build_v1_store(path, landmarks, matrix, cv2.imencode(".png", mask)[1].tobytes())
    return path, landmarks, matrix, mask


def check_migrated_content(store: AlignmentsStore, landmarks, matrix, mask) -> None:
    assert store.schema_version == 2
    assert store.meta() == {"fps": 25.0, "frame_count": 3, "source": "clip.mp4", "tool": "0.0.1"}
    assert store.done_frame_indices() == {0, 1}
    face = store.frame(0).faces[0]
    assert face.box == (1.5, 2.5, 101.5, 122.5)
    assert np.array_equal(face.landmarks, landmarks)
    assert np.array_equal(face.matrix, matrix)
    assert np.array_equal(face.masks["extended"], mask)
    assert face.identity is None and face.thumbnail is None
    assert store.frame(1).faces == []


def test_v1_store_is_migrated_in_place_and_backed_up(tmp_path: Path, rng) -> None:
    path, landmarks, matrix, mask = v1_fixture(tmp_path, rng)
    original = path.read_bytes()
    with AlignmentsStore.open(path, "r+") as store:
        check_migrated_content(store, landmarks, matrix, mask)
        # The new columns work after migration.
        store.add_frames([make_frame(rng, 2)])
        assert store.frame(2).faces[0].identity is not None
    backup = tmp_path / "old.db.v1.bak"
    assert backup.read_bytes() == original
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()
    with AlignmentsStore.open(path, "r") as store:  # a second open needs no migration
        assert store.frame_count() == 3


def test_v1_store_opened_read_only_is_migrated_in_memory_only(tmp_path: Path, rng) -> None:
    path, landmarks, matrix, mask = v1_fixture(tmp_path, rng)
    original = path.read_bytes()
    with AlignmentsStore.open(path, "r") as store:
        check_migrated_content(store, landmarks, matrix, mask)
    assert path.read_bytes() == original
    assert not (tmp_path / "old.db.v1.bak").exists()


def test_failed_migration_leaves_the_file_at_its_old_version(tmp_path: Path, rng) -> None:
    path, *_ = v1_fixture(tmp_path, rng)
    conn = sqlite3.connect(path)
    # A v1 file that already has a thumbnail column makes the second ALTER TABLE fail.
    conn.execute("ALTER TABLE faces ADD COLUMN thumbnail BLOB")
    conn.commit()
    conn.close()
    with pytest.raises(FormatError):
        AlignmentsStore.open(path, "r+")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    columns = [row[1] for row in conn.execute("PRAGMA table_info(faces)")]
    assert "identity" not in columns  # the first ALTER was rolled back with the rest
    assert conn.execute("SELECT value FROM meta WHERE key = 'fps'").fetchone()[0] == "25.0"
    conn.close()


def test_backup_that_cannot_be_written_stops_the_migration(
    tmp_path: Path, rng, monkeypatch
) -> None:
    path, *_ = v1_fixture(tmp_path, rng)
    original = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OutputError, match="cannot back up .*old.db before upgrading it") as info:
        AlignmentsStore.open(path, "r+")
    assert "disk full" in info.value.message
    assert path.read_bytes() == original
    # Neither a backup (whole or partial) nor a temporary file is left beside the store.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.db"]
