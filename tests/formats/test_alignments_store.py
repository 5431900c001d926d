"""The alignments store on real SQLite files: round trips, bad files, migration, crash safety."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceforge.errors import FormatError, InputError, OutputError
from faceforge.formats import (
    ALIGNMENTS_APPLICATION_ID,
    ALIGNMENTS_SCHEMA_VERSION,
    AlignmentsStore,
    FaceRecord,
    FrameRecord,
    default_alignments_path,
)

SRC = Path(__file__).resolve().parents[2] / "src"


def make_face(rng: np.random.Generator, face_index: int = 0, full: bool = True) -> FaceRecord:
    yy, xx = np.mgrid[:128, :128]
    ellipse = (((xx - 64) / 40.0) ** 2 + ((yy - 64) / 55.0) ** 2 <= 1).astype(np.uint8) * 255
    return FaceRecord(
        face_index=face_index,
        box=tuple(float(v) for v in rng.uniform(0, 500, 4)),
        score=float(rng.uniform()),
        landmarks=rng.uniform(0, 1920, (68, 2)).astype(np.float32),
        matrix=rng.normal(size=(2, 3)),
        masks={"extended": ellipse, "components": rng.integers(0, 256, (96, 80), np.uint8)}
        if full
        else {},
        identity=rng.normal(size=128).astype(np.float32) if full else None,
        thumbnail=bytes(rng.integers(0, 256, 700, np.uint8)) if full else None,
        detector="blazeface-short",
        landmarker="dlib-68",
    )


def make_frame(rng: np.random.Generator, index: int, n_faces: int = 1) -> FrameRecord:
    return FrameRecord(
        index=index,
        name=f"clip_{index:06d}",
        width=1920,
        height=1080,
        timestamp_s=index / 29.97,
        faces=[make_face(rng, i) for i in range(n_faces)],
    )


def assert_same_frame(got: FrameRecord, want: FrameRecord) -> None:
    assert (got.index, got.name, got.width, got.height) == (
        want.index, want.name, want.width, want.height
    )
    assert got.timestamp_s == want.timestamp_s
    assert len(got.faces) == len(want.faces)
    for a, b in zip(got.faces, want.faces, strict=True):
        assert a.face_index == b.face_index
        assert a.box == b.box
        assert a.score == b.score
        assert a.landmarks.dtype == np.float32 and np.array_equal(a.landmarks, b.landmarks)
        assert a.matrix.dtype == np.float64 and np.array_equal(a.matrix, b.matrix)
        assert a.masks.keys() == b.masks.keys()
        for name in a.masks:
            assert a.masks[name].dtype == np.uint8
            assert np.array_equal(a.masks[name], b.masks[name])
        if b.identity is None:
            assert a.identity is None
        else:
            assert a.identity.dtype == np.float32 and np.array_equal(a.identity, b.identity)
        assert a.thumbnail == b.thumbnail
        assert (a.detector, a.landmarker) == (b.detector, b.landmarker)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# -- round trips -----------------------------------------------------------------------


def test_frames_round_trip_with_every_field_exact(tmp_path: Path, rng) -> None:
    frames = [make_frame(rng, 0, 1), make_frame(rng, 1, 0), make_frame(rng, 2, 3)]
    frames[1].timestamp_s = None
    frames[2].faces[1] = make_face(rng, 1, full=False)
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.add_frames(frames)
    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        got = list(store.iter_frames())
        assert len(got) == 3
        for a, b in zip(got, frames, strict=True):
            assert_same_frame(a, b)
        assert_same_frame(store.frame(2), frames[2])
        assert store.frame(99) is None


def test_file_is_marked_with_application_id_and_schema_version(tmp_path: Path) -> None:
    AlignmentsStore.open(tmp_path / "a.db", "a").close()
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("PRAGMA application_id").fetchone()[0] == ALIGNMENTS_APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == ALIGNMENTS_SCHEMA_VERSION
    conn.close()
    # Closing leaves one self-contained file, nothing beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db"]


def test_meta_holds_json_values(tmp_path: Path) -> None:
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.set_meta("fps", 29.97)
        store.set_meta("plugins", {"detector": "blazeface", "landmarker": "dlib-68"})
        store.set_meta("frame_count", 120)
        store.update_meta({"run_status": "running", "source": "/videos/clip.mp4"})
        store.set_meta("run_status", "done")
    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        assert store.get_meta("fps") == 29.97
        assert store.get_meta("plugins") == {"detector": "blazeface", "landmarker": "dlib-68"}
        assert store.get_meta("missing", "default") == "default"
        assert store.meta() == {
            "fps": 29.97,
            "frame_count": 120,
            "plugins": {"detector": "blazeface", "landmarker": "dlib-68"},
            "run_status": "done",
            "source": "/videos/clip.mp4",
        }


def test_adding_a_frame_again_replaces_it_and_its_faces(tmp_path: Path, rng) -> None:
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.add_frames([make_frame(rng, 0, 3), make_frame(rng, 1, 1)])
        replacement = make_frame(rng, 0, 1)
        replacement.name = "renamed"
        store.add_frames([replacement])
        assert store.frame_count() == 2
        assert store.face_count() == 2
        assert_same_frame(store.frame(0), replacement)
        # Within one batch, the later record of an index wins.
        first, second = make_frame(rng, 5, 2), make_frame(rng, 5, 1)
        store.add_frames([first, second])
        assert_same_frame(store.frame(5), second)


def test_a_failing_batch_writes_nothing(tmp_path: Path, rng) -> None:
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.add_frames([make_frame(rng, 0)])
        bad = make_frame(rng, 2)
        bad.faces[0].landmarks = np.zeros((5, 2), np.float32)
        with pytest.raises(ValueError, match="landmarks"):
            store.add_frames([make_frame(rng, 1), bad])
        assert store.done_frame_indices() == {0}


def test_counts_and_summary(tmp_path: Path, rng) -> None:
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.set_meta("fps", 25.0)
        store.add_frames([make_frame(rng, i, n) for i, n in enumerate([1, 0, 2, 1, 0, 3])])
        assert store.frame_count() == 6
        assert store.face_count() == 7
        assert store.done_frame_indices() == set(range(6))
        summary = store.summary()
    assert summary["frames"] == 6
    assert summary["faces"] == 7
    assert summary["frames_without_faces"] == 2
    assert summary["frames_with_multiple_faces"] == 2
    assert summary["meta"] == {"fps": 25.0}
    assert summary["schema_version"] == ALIGNMENTS_SCHEMA_VERSION


def test_empty_store_summary_is_all_zero(tmp_path: Path) -> None:
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        summary = store.summary()
        assert list(store.iter_frames()) == []
    assert (summary["frames"], summary["faces"]) == (0, 0)
    assert (summary["frames_without_faces"], summary["frames_with_multiple_faces"]) == (0, 0)


def test_iteration_is_ordered_across_chunks(tmp_path: Path, rng) -> None:
    order = list(range(600))
    rng.shuffle(order)
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        for start in range(0, 600, 100):
            store.add_frames([make_frame(rng, i, i % 3) for i in order[start:start + 100]])
        got = list(store.iter_frames())
    assert [f.index for f in got] == list(range(600))
    assert [len(f.faces) for f in got] == [i % 3 for i in range(600)]


def test_remove_faces_keeps_frames_and_other_face_indices(tmp_path: Path, rng) -> None:
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.add_frames([make_frame(rng, 0, 3), make_frame(rng, 1, 1)])
        removed = store.remove_faces([(0, 1), (1, 0), (7, 0)])
        assert removed == 2
        assert [f.face_index for f in store.frame(0).faces] == [0, 2]
        assert store.frame(1).faces == []
        assert store.done_frame_indices() == {0, 1}
        assert store.summary()["frames_without_faces"] == 1


def test_keep_only_faces_removes_everything_else(tmp_path: Path, rng) -> None:
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.add_frames([make_frame(rng, 0, 3), make_frame(rng, 1, 2), make_frame(rng, 2, 1)])
        removed = store.keep_only_faces([(0, 2), (2, 0), (9, 9)])
        assert removed == 4
        assert [(f.index, [x.face_index for x in f.faces]) for f in store.iter_frames()] == [
            (0, [2]), (1, []), (2, [0])
        ]
        # The masks of removed faces are gone too, not orphaned.
        conn = store._conn
        assert conn.execute("SELECT count(*) FROM masks").fetchone()[0] == 4


def test_a_reader_sees_each_committed_batch_while_the_writer_works(tmp_path: Path, rng) -> None:
    with AlignmentsStore.open(tmp_path / "a.db", "a") as writer:
        writer.add_frames([make_frame(rng, i) for i in range(32)])
        with AlignmentsStore.open(tmp_path / "a.db", "r") as reader:
            assert reader.frame_count() == 32
            writer.add_frames([make_frame(rng, i) for i in range(32, 64)])
            assert reader.frame_count() == 64
            assert reader.summary()["faces"] == 64


def test_read_only_store_refuses_writes(tmp_path: Path, rng) -> None:
    AlignmentsStore.open(tmp_path / "a.db", "a").close()
    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        with pytest.raises(OutputError, match="read-only"):
            store.add_frames([make_frame(rng, 0)])


def test_default_path_is_beside_a_video_and_inside_a_folder(tmp_path: Path) -> None:
    assert default_alignments_path(tmp_path / "clip.mp4") == tmp_path / "clip_alignments.db"
    assert default_alignments_path(tmp_path) == tmp_path / "alignments.db"


# -- JSON ------------------------------------------------------------------------------


def test_json_export_and_import_lose_nothing(tmp_path: Path, rng) -> None:
    frames = [make_frame(rng, 0, 2), make_frame(rng, 1, 0), make_frame(rng, 4, 1)]
    frames[0].faces[1] = make_face(rng, 1, full=False)
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.update_meta({"fps": 29.97, "plugins": ["blazeface", "dlib-68"], "source": "c.mp4"})
        store.add_frames(frames)
        store.export_json(tmp_path / "a.json")
    document = json.loads((tmp_path / "a.json").read_text())
    assert document["format"] == "faceforge-alignments"
    assert len(document["frames"]) == 3
    with AlignmentsStore.import_json(tmp_path / "a.json", tmp_path / "b.db") as imported:
        assert imported.meta() == {
            "fps": 29.97, "plugins": ["blazeface", "dlib-68"], "source": "c.mp4"
        }
        for got, want in zip(imported.iter_frames(), frames, strict=True):
            assert_same_frame(got, want)
    assert not list(tmp_path.glob("*.tmp-*"))


def test_json_import_rejects_other_json_and_an_existing_store(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(FormatError, match="not a faceforge alignments JSON"):
        AlignmentsStore.import_json(tmp_path / "other.json")
    (tmp_path / "broken.json").write_text('{"format": ')
    with pytest.raises(FormatError, match="not readable JSON"):
        AlignmentsStore.import_json(tmp_path / "broken.json")
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.export_json(tmp_path / "a.json")
    with pytest.raises(OutputError, match="already exists"):
        AlignmentsStore.import_json(tmp_path / "a.json", tmp_path / "a.db")
    with pytest.raises(InputError, match="not found"):
        AlignmentsStore.import_json(tmp_path / "missing.json")
    face = make_face(np.random.default_rng(1), full=False)
    frame = FrameRecord(0, "f", 10, 10, None, [face])
    with AlignmentsStore.open(tmp_path / "c.db", "a") as store:
        store.add_frames([frame])
        store.export_json(tmp_path / "c.json")
    document = json.loads((tmp_path / "c.json").read_text())
    document["frames"][0]["faces"][0]["identity"] = [0.5] * 3
    (tmp_path / "bad.json").write_text(json.dumps(document))
    with pytest.raises(FormatError, match="identity"):
        AlignmentsStore.import_json(tmp_path / "bad.json", tmp_path / "bad.db")
    assert not (tmp_path / "bad.db").exists()


# -- bad files -------------------------------------------------------------------------


def test_missing_file_in_read_modes_is_an_input_error(tmp_path: Path) -> None:
    for mode in ("r", "r+"):
        with pytest.raises(InputError, match="not found") as info:
            AlignmentsStore.open(tmp_path / "nope.db", mode)
        assert not isinstance(info.value, FormatError)
    assert not (tmp_path / "nope.db").exists()


def test_text_file_renamed_db_is_not_an_alignments_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("just some text, long enough to look like something " * 10)
    with pytest.raises(FormatError, match="is not a faceforge alignments file") as info:
        AlignmentsStore.open(path, "a")
    assert "notes.db" in info.value.message
    assert info.value.hint


def test_faceswap_fsa_file_gets_an_import_hint(tmp_path: Path) -> None:
    path = tmp_path / "alignments.fsa"
    path.write_bytes(b"x\x9c" + os.urandom(200))  # zlib-looking bytes, like a real .fsa
    with pytest.raises(FormatError) as info:
        AlignmentsStore.open(path, "r")
    assert "faceforge tools alignments import" in info.value.hint


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


def test_new_store_under_a_regular_file_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "plain_file"
    blocker.write_text("x")
    with pytest.raises(OutputError) as info:
        AlignmentsStore.open(blocker / "alignments.db", "a")
    assert "-p/--alignments" in info.value.hint
    with pytest.raises(OutputError):
        AlignmentsStore.open(tmp_path / "no_such_dir" / "alignments.db", "a")


def test_folder_instead_of_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        AlignmentsStore.open(tmp_path, "r")


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


# -- crash safety ----------------------------------------------------------------------

WRITER = """
import sys
import numpy as np
from faceforge.formats import AlignmentsStore, FaceRecord, FrameRecord

path, batch = sys.argv[1], 32
mask = np.full((128, 128), 200, np.uint8)
with AlignmentsStore.open(path, "a") as store:
    store.set_meta("run_status", "running")
    for b in range(100000):
        frames = [
            FrameRecord(i, f"clip_{i:06d}", 1280, 720, i / 30, [FaceRecord(
                0, (1.0, 2.0, 3.0, 4.0), 0.5, np.full((68, 2), i, np.float32),
                np.eye(2, 3), {"extended": mask, "components": mask},
                np.full(128, i, np.float32), b"jpeg" * 500, "d", "l")])
            for i in range(b * batch, (b + 1) * batch)
        ]
        store.add_frames(frames)
        print(b, flush=True)
"""


def test_sigkill_mid_write_keeps_only_whole_committed_batches(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        committed = -1
        deadline = time.monotonic() + 60
        while committed < 20 and time.monotonic() < deadline:
            line = writer.stdout.readline()
            if not line:
                break
            committed = int(line)
        assert committed >= 20, "writer did not get going"
        # The writer is busy in its next batch: kill it without warning.
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL

    with AlignmentsStore.open(path, "r") as store:
        count = store.frame_count()
        assert count % 32 == 0
        assert count >= (committed + 1) * 32
        assert store.done_frame_indices() == set(range(count))
        assert store.get_meta("run_status") == "running"
        for frame in store.iter_frames():
            (face,) = frame.faces
            assert np.all(face.landmarks == frame.index)
            assert set(face.masks) == {"extended", "components"}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    # Resuming appends after the last whole batch.
    rng = np.random.default_rng(0)
    with AlignmentsStore.open(path, "r+") as store:
        store.add_frames([make_frame(rng, count + i) for i in range(32)])
        assert store.frame_count() == count + 32


# -- speed -----------------------------------------------------------------------------


def test_batch_insert_speed_is_reported(tmp_path: Path, rng, capsys) -> None:
    """Sanity print, not a timed assertion: see benchmarks/ for recorded numbers."""
    yy, xx = np.mgrid[:128, :128]
    # Like a landmark mask: a face-shaped region with an 8 px soft edge.
    soft = np.clip((50 - np.hypot((xx - 64) * 1.2, yy - 64)) * 32, 0, 255).astype(np.uint8)
    batches = []
    for b in range(20):
        frames = [make_frame(rng, b * 32 + i) for i in range(32)]
        for frame in frames:
            frame.faces[0].masks = {"extended": soft, "components": soft}
        batches.append(frames)
    timings = []
    with AlignmentsStore.open(tmp_path / "speed.db", "a") as store:
        for frames in batches:
            start = time.perf_counter()
            store.add_frames(frames)
            timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert sum(1 for _ in store.iter_frames()) == 640
        read_s = time.perf_counter() - start
    with capsys.disabled():
        print(
            f"\n[alignments] add_frames: median {np.median(timings) * 1e3:.2f} ms per 32-frame "
            f"batch (1 face, 2 masks 128x128); iter_frames: {640 / read_s:.0f} frames/s"
        )
