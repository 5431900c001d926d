"""The model folder's state file: round trips, and a save that fails or is interrupted halfway
leaves the previous state.json whole."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from faceforge.errors import FormatError
from faceforge.formats.model_state import STATE_FILE, ModelState, Session, read_state, write_state


def make_state(iterations: int) -> ModelState:
    return ModelState(
        trainer="original",
        model_config={"input_size": 64, "encoder_dims": 512},
        train_config={"batch_size": 16},
        iterations=iterations,
        sessions=[Session(start=1.0, end=2.0, iterations=iterations, batch_size=16)],
        files={"weights": f"weights-{iterations:09d}.safetensors"},
        loss={"a": 0.05, "b": 0.06},
        tool_version="0.1.0",
        created=1.0,
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_state_round_trips(tmp_path: Path) -> None:
    assert read_state(tmp_path) is None
    write_state(tmp_path, make_state(100))
    assert read_state(tmp_path) == make_state(100)
    write_state(tmp_path, make_state(200))
    assert read_state(tmp_path).iterations == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]


def test_damaged_state_is_a_format_error(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text('{"format": "faceforge-model", "vers')
    with pytest.raises(FormatError, match="not valid JSON"):
        read_state(tmp_path)


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failed_save_keeps_the_previous_state(tmp_path: Path, monkeypatch, failing: str) -> None:
    write_state(tmp_path, make_state(100))

    def disk_full(*args) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, disk_full)
    # An OSError, as from the weight files written before it: the checkpoint code handles both.
    with pytest.raises(OSError) as info:
        write_state(tmp_path, make_state(200))
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert read_state(tmp_path) == make_state(100)
    assert leftovers(tmp_path) == []


def test_ctrl_c_during_a_save_keeps_the_previous_state(tmp_path: Path, monkeypatch) -> None:
    write_state(tmp_path, make_state(100))

    def interrupted(src, dst) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_state(tmp_path, make_state(200))
    monkeypatch.undo()
    assert read_state(tmp_path) == make_state(100)
    assert leftovers(tmp_path) == []
