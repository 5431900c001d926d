"""The alignments store's JSON export and import: nothing lost, bad documents refused, and an
export that fails halfway leaves the previous one whole."""

from __future__ import annotations

import errno
import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest

from faceforge.errors import FormatError, InputError, OutputError
from faceforge.formats import AlignmentsStore, FrameRecord
from tests.formats.alignments_samples import assert_same_frame, make_face, make_frame


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


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


# -- atomic export ---------------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_export_failing_on_a_full_disk_keeps_the_previous_export(
    tmp_path: Path, rng, monkeypatch
) -> None:
    export = tmp_path / "a.json"
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.add_frames([make_frame(rng, 0)])
        store.export_json(export)
        before = export.read_bytes()
        store.add_frames([make_frame(rng, 1)])

        def disk_full(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", disk_full)
        with pytest.raises(OutputError, match="disk full while writing .*a.json"):
            store.export_json(export)
    assert export.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("moment", ["while streaming frames", "at the rename"])
def test_export_interrupted_by_ctrl_c_keeps_the_previous_export(
    tmp_path: Path, rng, monkeypatch, moment: str
) -> None:
    export = tmp_path / "a.json"
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.add_frames([make_frame(rng, i) for i in range(3)])
        store.export_json(export)
        before = export.read_bytes()
        store.add_frames([make_frame(rng, 3)])
        if moment == "at the rename":

            def interrupted_replace(src, dst) -> None:
                raise KeyboardInterrupt

            monkeypatch.setattr(os, "replace", interrupted_replace)
        else:
            every_frame = AlignmentsStore.iter_frames

            def interrupted_frames(self):
                yield from itertools.islice(every_frame(self), 2)
                raise KeyboardInterrupt

            monkeypatch.setattr(AlignmentsStore, "iter_frames", interrupted_frames)
        with pytest.raises(KeyboardInterrupt):
            store.export_json(export)
    assert export.read_bytes() == before
    assert len(json.loads(before)["frames"]) == 3
    assert leftovers(tmp_path) == []
