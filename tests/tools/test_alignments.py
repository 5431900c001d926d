"""`tools alignments ...` on a real extraction of lp_d18 (every 4th frame): results checked."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceforge.core import geometry
from faceforge.errors import Interrupted, OutputError, UsageError
from faceforge.formats.alignments import AlignmentsStore
from faceforge.formats.face_png import face_filename, parse_face_filename, read_face_png
from faceforge.io import open_source
from faceforge.tools import alignments as tool
from tests.tools.helpers import copy_side, face_keys, run_cli

pytestmark = pytest.mark.slow


def _rebuilt_store(source: Path, target: Path, change) -> Path:
    """A new store with the meta of `source` and its frames passed through `change` (a
    function of the frame list returning the frames to keep)."""
    with AlignmentsStore.open(source, "r") as old:
        meta, frames = old.meta(), list(old.iter_frames())
    with AlignmentsStore.open(target, "a") as new:
        new.update_meta(meta)
        new.add_frames(change(frames))
    return target


def test_remove_faces_drops_exactly_the_deleted_images_and_keeps_a_backup(faces, tmp_path,
                                                                        capsys):
    store, folder = copy_side(faces, "a", tmp_path)
    before = face_keys(store)
    doomed = sorted(folder.glob("*.png"))[3:8]
    gone = {parse_face_filename(p.name)[1:] for p in doomed}
    for path in doomed:
        path.unlink()
    assert run_cli("tools", "alignments", "remove-faces", store, "-fc", folder) == 0
    assert "removed 5 of" in capsys.readouterr().out
    assert face_keys(store) == before - gone
    backups = list(tmp_path.glob("a.db.*.bak"))
    assert len(backups) == 1 and face_keys(backups[0]) == before
    assert not list(tmp_path.glob(".a.db.tmp-*")), "no temporary left behind"

    # The frames emptied are what no-faces lists, and -o copies them out of the video exactly.
    emptied = sorted({frame for frame, _ in gone if not any(k[0] == frame
                                                            for k in before - gone)})
    listed = tool.no_faces(tool.FrameListConfig(alignments=store, output=tmp_path / "empty"))
    assert listed.frames == emptied and listed.copied == len(emptied)
    with AlignmentsStore.open(store, "r") as opened:
        video = Path(opened.get_meta("source_path"))
    with open_source(video) as source:
        for index in emptied:
            written, _ = read_rgb(tmp_path / "empty" / f"lp_d18_{index:06d}.png")
            np.testing.assert_array_equal(written, source.read_frame(index).image)


def read_rgb(path: Path) -> tuple[np.ndarray, None]:
    """A plain PNG's RGB pixels (frames carry no face metadata)."""
    import cv2

    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), None


def test_remove_faces_refuses_a_folder_of_another_source(faces, tmp_path):
    store, _ = copy_side(faces, "a", tmp_path)
    before = store.read_bytes()
    with pytest.raises(UsageError, match="no face image"):
        tool.remove_faces(tool.RemoveFacesConfig(alignments=store, faces=faces["b"]))
    assert store.read_bytes() == before and not list(tmp_path.glob("*.bak"))


def test_remove_faces_stopped_half_way_leaves_the_store_as_it_was(faces, tmp_path,
                                                                   monkeypatch):
    store, folder = copy_side(faces, "a", tmp_path)
    before = face_keys(store)
    for path in sorted(folder.glob("*.png"))[:4]:
        path.unlink()

    def interrupted(self, keys):
        self._write(lambda conn: conn.execute("DELETE FROM masks"))  # a change under way
        raise KeyboardInterrupt

    monkeypatch.setattr(AlignmentsStore, "remove_faces", interrupted)
    with pytest.raises(Interrupted) as stopped:
        tool.remove_faces(tool.RemoveFacesConfig(alignments=store, faces=folder))
    assert stopped.value.one_line() == "tools alignments remove-faces stopped: the store is " \
        "as it was"
    assert face_keys(store) == before
    with AlignmentsStore.open(store, "r") as opened:
        assert all(face.masks for frame in opened.iter_frames() for face in frame.faces)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".a.db")]


def test_remove_faces_killed_at_any_moment_leaves_the_store_old_or_new(faces, tmp_path):
    store, folder = copy_side(faces, "a", tmp_path)
    before = face_keys(store)
    doomed = sorted(folder.glob("*.png"))[10:20]
    after = before - {parse_face_filename(p.name)[1:] for p in doomed}
    for path in doomed:
        path.unlink()
    pristine = store.read_bytes()
    command = [sys.executable, "-m", "faceforge.cli", "tools", "alignments", "remove-faces",
               str(store), "-fc", str(folder), "-L", "ERROR"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    outcomes = set()
    for delay_s in (0.3, 0.6, 0.9, 1.2, 1.6, 2.5):
        store.write_bytes(pristine)
        for leftover in tmp_path.glob("a.db.*.bak"):
            leftover.unlink()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        keys = face_keys(store)  # opens: the file is a whole store
        assert keys in (before, after), f"killed after {delay_s} s: a half-changed store"
        outcomes.add("new" if keys == after else "old")
        for backup in tmp_path.glob("a.db.*.bak"):
            assert face_keys(backup) == before
    assert run_cli("tools", "alignments", "remove-faces", store, "-fc", folder) == 0
    assert face_keys(store) == after


def test_missing_frames_lists_what_an_interrupted_extraction_did_not_reach(faces, tmp_path):
    store = _rebuilt_store(faces["a"].parent / "a.db", tmp_path / "cut.db",
                           lambda frames: [f for f in frames if f.index not in (8, 40, 200)])
    result = tool.missing_frames(tool.FrameListConfig(alignments=store))
    # The fixture extracted every 4th frame: only those count as missing.
    assert result.frames == [8, 40, 200]
    full = tool.missing_frames(tool.FrameListConfig(alignments=faces["a"].parent / "a.db"))
    assert full.frames == []


def test_multi_faces_lists_and_copies_the_faces_of_crowded_frames(faces, tmp_path):
    def crowd(frames):
        for frame in frames:
            if frame.index in (12, 100) and frame.faces:
                extra = dataclasses.replace(frame.faces[0], face_index=1,
                                            box=(0.0, 0.0, 20.0, 20.0))
                frame.faces.append(extra)
        return frames

    store = _rebuilt_store(faces["a"].parent / "a.db", tmp_path / "crowd.db", crowd)
    assert run_cli("tools", "alignments", "multi-faces", store, "-fc", faces["a"], "-o",
                   tmp_path / "out") == 0
    copied = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert copied == ["lp_d18_000012_0.png", "lp_d18_000100_0.png"]  # the images that exist


def test_extract_recuts_faces_at_another_size_and_centering_without_detection(faces,
                                                                             tmp_path):
    store = faces["a"].parent / "a.db"
    assert run_cli("tools", "alignments", "extract", store, "-o", tmp_path / "small", "-z",
                   128, "--centering", "face", "-N", 8) == 0
    written = sorted((tmp_path / "small").glob("*.png"))
    with AlignmentsStore.open(store, "r") as opened:
        expected = {face_filename("lp_d18", frame.index, face.face_index)
                    for frame in opened.iter_frames() for face in frame.faces
                    if frame.index % 8 == 0}
    assert {p.name for p in written} == expected
    for path in written[::5]:
        small, meta = read_face_png(path)
        assert small.shape == (128, 128, 3) and meta["centering"] == "face"
        big, big_meta = read_face_png(faces["a"] / path.name)
        assert big_meta["landmarks"] == meta["landmarks"]
        # The same face: the 512 px head crop cut down to the 128 px face crop matches.
        import cv2

        matrix = geometry.change_crop(512, "head", 128, "face")
        recut = cv2.warpAffine(big, matrix, (128, 128), flags=cv2.INTER_AREA)
        assert np.abs(recut.astype(int) - small.astype(int)).mean() < 6


def test_draw_writes_the_frames_with_landmarks_on_them(faces, tmp_path):
    store = faces["a"].parent / "a.db"
    result = tool.draw(tool.DrawConfig(alignments=store, output=tmp_path / "drawn",
                                       frames=(0, 20), image_format="png"))
    names = sorted(p.name for p in (tmp_path / "drawn").iterdir())
    assert names == [f"lp_d18_{i:06d}.png" for i in (0, 4, 8, 12, 16, 20)]
    assert result.frames_written == 6
    drawn, _ = read_rgb(tmp_path / "drawn" / "lp_d18_000008.png")
    with AlignmentsStore.open(store, "r") as opened, \
            open_source(Path(opened.get_meta("source_path"))) as source:
        face = opened.frame(8).faces[0]
        original = source.read_frame(8).image
    x, y = np.round(face.landmarks[30]).astype(int)  # the nose tip
    assert (drawn[y, x] != original[y, x]).any()
    changed = (drawn != original).any(axis=2)
    low = np.minimum(face.landmarks.min(axis=0), face.box[:2]).astype(int) - 24
    high = np.maximum(face.landmarks.max(axis=0), face.box[2:]).astype(int) + 24
    near = changed[max(0, low[1]):high[1], max(0, low[0]):high[0]]
    assert near.sum() == changed.sum(), "drawn only on and around the face"


def test_merge_keeps_shared_faces_once_and_adds_the_others(faces, tmp_path):
    original = faces["a"].parent / "a.db"

    def first_half(frames):
        return [f for f in frames if f.index < 100]

    def with_extra_face(frames):
        for frame in frames:
            if frame.index == 4:
                frame.faces.append(dataclasses.replace(frame.faces[0], face_index=1,
                                                       box=(0.0, 0.0, 30.0, 30.0)))
        return frames

    one = _rebuilt_store(original, tmp_path / "one.db", first_half)
    two = _rebuilt_store(original, tmp_path / "two.db", with_extra_face)
    assert run_cli("tools", "alignments", "merge", one, two, "-o", tmp_path / "both.db") == 0
    merged = face_keys(tmp_path / "both.db")
    assert merged == face_keys(original) | {(4, 1)}
    with AlignmentsStore.open(tmp_path / "both.db", "r") as store:
        assert store.frame(4).faces[1].box == (0.0, 0.0, 30.0, 30.0)
    with pytest.raises(Exception, match="already exists"):
        tool.merge(tool.MergeConfig(alignments=one, other=two, output=tmp_path / "both.db"))


def test_rename_gives_faces_their_store_names_back_and_undoes(faces, tmp_path):
    _, folder = copy_side(faces, "a", tmp_path)
    names = sorted(p.name for p in folder.glob("*.png"))
    for number, name in enumerate(names[:5]):
        (folder / name).rename(folder / f"renamed_{number}.png")
    shuffled = sorted(p.name for p in folder.glob("*.png"))
    assert run_cli("tools", "alignments", "rename", folder) == 0
    assert sorted(p.name for p in folder.glob("*.png")) == names
    assert run_cli("tools", "alignments", "rename", folder, "--undo") == 0
    assert sorted(p.name for p in folder.glob("*.png")) == shuffled


def test_summary_lists_problem_frames(faces, capsys):
    assert run_cli("tools", "alignments", "summary", faces["a"].parent / "a.db", "--list") == 0
    out = capsys.readouterr().out
    assert "frames: 54" in out and "frames without faces: none" in out


def test_export_and_import_give_back_the_same_store(faces, tmp_path):
    store = faces["a"].parent / "a.db"
    assert run_cli("tools", "alignments", "export", store, tmp_path / "a.json") == 0
    assert run_cli("tools", "alignments", "import", tmp_path / "a.json", tmp_path / "b.db") == 0
    assert face_keys(tmp_path / "b.db") == face_keys(store)
    with AlignmentsStore.open(store, "r") as one, AlignmentsStore.open(tmp_path / "b.db",
                                                                       "r") as two:
        np.testing.assert_array_equal(one.frame(20).faces[0].landmarks,
                                      two.frame(20).faces[0].landmarks)


def test_extract_never_writes_over_face_images(faces, tmp_path):
    store, folder = copy_side(faces, "a", tmp_path)
    before = sorted(folder.glob("*.png"))[0].read_bytes()
    with pytest.raises(OutputError, match="already holds face images"):
        tool.extract_faces(tool.ExtractFacesConfig(alignments=store, output=folder, size=64))
    assert sorted(folder.glob("*.png"))[0].read_bytes() == before
    kept = tool.extract_faces(tool.ExtractFacesConfig(alignments=store, output=folder,
                                                      size=64, skip_existing=True))
    assert kept.faces_written == 0 and kept.faces_skipped == len(list(folder.glob("*.png")))
