"""`tools sort` on real faces: identity separates people, the measures order faces, every sort
can be undone, and a stopped or killed sort loses no file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from faceforge.errors import Interrupted
from faceforge.formats.alignments import AlignmentsStore
from faceforge.formats.face_png import parse_face_filename
from faceforge.tools import renames
from faceforge.tools.sort import SortConfig, run
from tests.tools.helpers import contents, copy_side, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crowd(video_dir, tmp_path_factory) -> Path:
    """Faces of openmpf_video_01 (a woman in front, people behind), every 3rd frame, with the
    full-range detector that finds the small faces at the back."""
    out = tmp_path_factory.mktemp("openmpf")
    assert run_cli("extract", "-i", video_dir / "openmpf_video_01.mp4", "-o", out / "faces",
                   "-p", out / "crowd.db", "-D", "blazeface-full", "-een", "3",
                   "-L", "WARNING") == 0
    return out


def _front_faces(store: Path) -> set[str]:
    """The woman in front: the largest face of each frame."""
    names = set()
    with AlignmentsStore.open(store, "r") as opened:
        for frame in opened.iter_frames():
            if frame.faces:
                largest = max(frame.faces, key=lambda f: (f.box[2] - f.box[0]) *
                              (f.box[3] - f.box[1]))
                names.add(f"openmpf_video_01_{frame.index:06d}_{largest.face_index}.png")
    return names


def test_sort_by_identity_separates_the_woman_in_front_from_the_people_behind(crowd,
                                                                             tmp_path):
    folder = tmp_path / "faces"
    shutil.copytree(crowd / "faces", folder)
    front = _front_faces(crowd / "crowd.db")
    everyone = {p.name for p in folder.glob("*.png")}
    assert len(everyone) > len(front) + 10, "the people behind were extracted too"
    result = run(SortConfig(input=folder, sort_by="identity"))
    groups = {p.parent.name: set() for p in folder.rglob("*.png")}
    for path in folder.rglob("*.png"):
        groups[path.parent.name].add(path.name)
    hers = max(groups.values(), key=lambda names: len(names & front))
    assert hers == front, (f"{len(front - hers)} of her faces elsewhere, "
                           f"{len(hers - front)} others with her")
    assert len(groups) >= 2 and result.groups == {k: len(v) for k, v in sorted(groups.items())}
    # Undo puts every face back where it was.
    assert run_cli("tools", "sort", "-i", folder, "--undo") == 0
    assert {p.name for p in folder.iterdir()} == everyone, "no folders or logs left"


def test_sort_by_reference_photo_ranks_that_person_first(faces, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    a_faces = sorted(faces["a"].glob("*.png"))
    b_faces = sorted(faces["b"].glob("*.png"))
    for path in a_faces[1:40:5] + b_faces[0:40:5]:
        shutil.copy2(path, mixed / path.name)
    result = run(SortConfig(input=mixed, output=tmp_path / "sorted", sort_by="reference",
                            final_process="rename", ref=[str(a_faces[0])], keep=True))
    first = result.order[:8]
    assert all("lp_d18" in name for name in first), first
    assert all("lp_d19" in name for name in result.order[8:])
    assert len(list(mixed.glob("*.png"))) == 16, "--keep copies, the input stays"
    assert sorted(p.name for p in (tmp_path / "sorted").glob("*.png"))[0].startswith("00000_")


@pytest.mark.parametrize("method", ["blur", "size", "yaw", "pitch", "hist"])
def test_each_measure_orders_the_faces_and_the_sort_undoes(faces, tmp_path, method):
    _, folder = copy_side(faces, "a", tmp_path)
    before = contents(folder)
    result = run(SortConfig(input=folder, sort_by=method, final_process="rename"))
    names = sorted(p.name for p in folder.glob("*.png"))
    assert names == sorted(result.order) and len(names) == len(before)
    assert [n[:5] for n in names] == [f"{i:05d}" for i in range(len(names))]
    values = [result.values[name] for name in names]
    if method in ("blur", "size"):
        assert values == sorted(values, reverse=True)
    elif method in ("yaw", "pitch"):
        assert values == sorted(values)
    # Every face is still a face of the store: the name after the rank is its store name.
    assert {parse_face_filename(n[6:]) is not None for n in names} == {True}
    renames.undo(folder)
    assert contents(folder) == before


def test_sort_into_folders_puts_each_measure_range_in_its_folder(faces, tmp_path):
    _, folder = copy_side(faces, "a", tmp_path)
    result = run(SortConfig(input=folder, output=tmp_path / "by_yaw", sort_by="yaw", bins=3))
    assert sum(result.groups.values()) == result.faces
    edges = {}
    for name, value in result.values.items():
        group = name.split("/")[0]
        low, high = edges.get(group, (value, value))
        edges[group] = (min(low, value), max(high, value))
    ranges = [edges[group] for group in sorted(edges)]
    assert all(ranges[i][1] <= ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert not list(folder.glob("*.png")), "moved, not copied"
    assert run_cli("tools", "sort", "-i", tmp_path / "by_yaw", "-u") == 0
    assert len(list(folder.glob("*.png"))) == result.faces


def test_a_stopped_sort_puts_every_file_back(faces, tmp_path, monkeypatch):
    _, folder = copy_side(faces, "a", tmp_path)
    before = contents(folder)
    stop = threading.Event()
    real_rename = renames._rename
    calls = []

    def counting_rename(src, dst):
        calls.append(src)
        if len(calls) == 30:
            stop.set()
        real_rename(src, dst)

    monkeypatch.setattr(renames, "_rename", counting_rename)
    with pytest.raises(Interrupted) as stopped:
        run(SortConfig(input=folder, sort_by="size", final_process="folders"), stop=stop)
    assert "every file was put back" in stopped.value.one_line()
    assert len(calls) >= 30
    assert contents(folder) == before


def test_a_killed_sort_loses_no_file_and_undo_restores_the_folder(faces, tmp_path):
    _, folder = copy_side(faces, "a", tmp_path)
    pristine = tmp_path / "pristine"
    shutil.copytree(folder, pristine)
    before = contents(pristine)
    command = [sys.executable, "-m", "faceforge.cli", "tools", "sort", "-i", str(folder),
               "-s", "size", "-L", "ERROR"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for delay_s in (0.5, 1.0, 1.5, 2.0, 3.0):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = contents(folder)
        journal = now.pop(renames.JOURNAL_NAME, None)
        # Every face is whole, under one name or another.
        assert sorted(now.values()) == sorted(before.values()), f"killed after {delay_s} s"
        if journal is not None:
            state = json.loads((folder / renames.JOURNAL_NAME).read_text())["state"]
            assert state in ("moving", "done")
            assert run_cli("tools", "sort", "-i", folder, "--undo") == 0
        assert contents(folder) == before
        assert not [d for d in folder.iterdir() if d.is_dir()]


def test_identity_descriptors_of_one_face_image_are_stable(faces):
    from faceforge.tools.measures import measure_faces

    path = sorted(faces["a"].glob("*.png"))[0]
    one, two = measure_faces([path, path], identity=True)
    np.testing.assert_array_equal(one.descriptor, two.descriptor)
    assert one.descriptor.shape == (128,)


def test_faces_that_could_not_be_measured_get_a_folder_of_their_own():
    from faceforge.tools.sort import _bins

    values = np.array([5.0, float("nan"), -20.0, 40.0])
    order = [2, 0, 3, 1]  # as argsort leaves NaN: last
    assert _bins(values, order, 2, True) == [0, 2, 0, 1]
    assert _bins(values, order, 3, False) == [1, 3, 0, 2]
