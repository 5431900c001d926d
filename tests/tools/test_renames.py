"""The move journal of `tools sort` and `rename`: chains of renames, undo, and recovery of a run
killed half-way, on small files."""

from __future__ import annotations

import json
import os

import pytest

from faceforge.errors import OutputError
from faceforge.tools import renames
from faceforge.tools.renames import Move, apply_moves, journal_path, recover, undo
from tests.tools.helpers import contents


def _files(folder, *names):
    for name in names:
        (folder / name).write_text(f"content of {name}")


def test_a_chain_of_renames_onto_each_others_names_loses_nothing(tmp_path):
    _files(tmp_path, "a.png", "b.png", "c.png")
    before = contents(tmp_path)
    moves = [Move(tmp_path / "a.png", tmp_path / "b.png"),
             Move(tmp_path / "b.png", tmp_path / "c.png"),
             Move(tmp_path / "c.png", tmp_path / "sub" / "a.png")]
    assert apply_moves(tmp_path, "test", moves) == 3
    assert (tmp_path / "b.png").read_text() == "content of a.png"
    assert (tmp_path / "c.png").read_text() == "content of b.png"
    assert (tmp_path / "sub" / "a.png").read_text() == "content of c.png"
    assert json.loads(journal_path(tmp_path).read_text())["state"] == "done"
    assert undo(tmp_path) == 3
    assert contents(tmp_path) == before
    assert not (tmp_path / "sub").exists(), "the folder it made is gone again"


def test_a_destination_that_is_someone_elses_file_is_refused(tmp_path):
    _files(tmp_path, "a.png", "taken.png")
    before = contents(tmp_path)
    with pytest.raises(OutputError, match="already exists"):
        apply_moves(tmp_path, "test", [Move(tmp_path / "a.png", tmp_path / "taken.png")])
    assert contents(tmp_path) == before


def test_a_run_killed_half_way_is_put_back_by_the_next_one(tmp_path):
    _files(tmp_path, "a.png", "b.png", "c.png")
    before = contents(tmp_path)
    moves = [Move(tmp_path / n, tmp_path / "out" / n) for n in ("a.png", "b.png", "c.png")]
    # What a kill leaves: the journal says "moving", one file moved, one at its interim name.
    renames._write_journal(tmp_path, "test", moves, False, "moving")
    (tmp_path / "out").mkdir()
    os.replace(tmp_path / "a.png", tmp_path / "out" / "a.png")
    os.replace(tmp_path / "b.png", moves[1].interim(1))
    recover(tmp_path)
    assert contents(tmp_path) == before


def test_copies_are_removed_by_undo_and_the_originals_stay(tmp_path):
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    _files(source, "a.png", "b.png")
    before = contents(source)
    apply_moves(target, "test", [Move(source / "a.png", target / "1" / "a.png"),
                                 Move(source / "b.png", target / "2" / "b.png")], copy=True)
    assert contents(source) == before and len(contents(target)) == 3  # + the journal
    undo(target)
    assert contents(source) == before and contents(target) == {}
