"""The alignments store on real SQLite files: round trips, counts, opening, crash safety."""

from __future__ import annotations

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
    ALIGNMENTS_SCHEMA_VERSION,
    AlignmentsStore,
    default_alignments_path,
)
from tests.formats.alignments_samples import assert_same_frame, make_face, make_frame

SRC = Path(__file__).resolve().parents[2] / "src"


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


# -- opening ---------------------------------------------------------------------------


def test_missing_file_in_read_modes_is_an_input_error(tmp_path: Path) -> None:
    for mode in ("r", "r+"):
        with pytest.raises(InputError, match="not found") as info:
            AlignmentsStore.open(tmp_path / "nope.db", mode)
        assert not isinstance(info.value, FormatError)
    assert not (tmp_path / "nope.db").exists()


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
