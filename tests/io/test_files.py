"""Atomic writes and output folders: never a half-written file, and an OutputError that names
the path for every way a write can fail."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faceforge.errors import InputError, OutputError
from faceforge.io import atomic_write, ensure_writable_dir
from faceforge.io import files as files_module
from faceforge.io.files import (
    append_text,
    atomic_copy,
    atomic_output,
    open_input,
    read_bytes,
    remove_stale_temporaries,
    temporary_path,
)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_atomic_write_creates_and_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write(target, b'{"iteration": 1}')
    atomic_write(target, memoryview(b'{"iteration": 2}'))
    assert target.read_bytes() == b'{"iteration": 2}'
    assert _leftovers(tmp_path) == []


def test_atomic_write_gives_the_file_the_usual_permissions(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "weights.bin", b"\0" * 10)
    finally:
        os.umask(old_umask)
    assert (tmp_path / "weights.bin").stat().st_mode & 0o777 == 0o644


def test_full_disk_keeps_the_old_file_and_says_so(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files_module.os, "fsync", disk_full)
    with pytest.raises(OutputError, match="disk full while writing .*state.json") as caught:
        atomic_write(target, b"new and longer")
    assert "free some space" in caught.value.hint
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_ctrl_c_during_a_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")

    def interrupted(src, dst) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files_module.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_write_into_a_missing_folder_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="missing/out.png"):
        atomic_write(tmp_path / "missing" / "out.png", b"png")


def test_output_folder_is_created_with_its_parents(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = ensure_writable_dir(Path("faces") / "a")
    assert folder == tmp_path / "faces" / "a" and folder.is_dir()
    assert ensure_writable_dir(folder) == folder  # existing folder is fine
    assert list(folder.iterdir()) == []  # the write probe cleans up after itself


def test_output_folder_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "faces").write_text("a file where a folder should be")
    with pytest.raises(OutputError, match=r"faces is a file, not a folder"):
        ensure_writable_dir(tmp_path / "faces")
    with pytest.raises(OutputError, match=r"cannot create folder .*faces/a/b: .*faces is a file"):
        ensure_writable_dir(tmp_path / "faces" / "a" / "b")


def test_output_folder_on_a_full_disk_says_disk_full(tmp_path: Path, monkeypatch) -> None:
    def disk_full(self, *args, **kwargs) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "mkdir", disk_full)
    with pytest.raises(OutputError, match="disk full while creating folder .*out"):
        ensure_writable_dir(tmp_path / "out")


def test_output_folder_that_cannot_be_written_is_refused(tmp_path: Path, monkeypatch) -> None:
    real_open = os.open

    def read_only(path, flags, mode=0o777, **kwargs):
        if ".faceforge-write-test" in str(path):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(files_module.os, "open", read_only)
    with pytest.raises(OutputError, match="is on a read-only file system"):
        ensure_writable_dir(tmp_path)


def test_text_is_written_as_utf8(tmp_path: Path) -> None:
    atomic_write(tmp_path / "state.json", "größe")
    assert (tmp_path / "state.json").read_bytes() == "größe".encode()


def test_a_library_writer_failing_in_atomic_output_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "weights.safetensors"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as temp:
        temp.write_bytes(b"half of the new")
        raise RuntimeError("the library gave up")
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []
    with atomic_output(target, durable=False) as temp:
        temp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and _leftovers(tmp_path) == []


def test_atomic_copy_copies_large_files_whole(tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(9 << 20))
    atomic_copy(src, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == src.read_bytes()
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "missing.bin", tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == src.read_bytes()
    assert _leftovers(tmp_path) == []


def test_appended_lines_accumulate(tmp_path: Path) -> None:
    append_text(tmp_path / "log.jsonl", "1\n")
    append_text(tmp_path / "log.jsonl", "2\n")
    assert (tmp_path / "log.jsonl").read_text() == "1\n2\n"


def test_only_temporaries_of_dead_processes_are_removed(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead_pid = int(finished.stdout)
    mine = temporary_path(tmp_path / "a.png")
    mine.write_bytes(b"being written")
    stale = tmp_path / f".b.png.tmp-{dead_pid}-0123abcd"
    stale.write_bytes(b"left by a kill")
    unrelated = tmp_path / "c.png.tmp"
    unrelated.write_bytes(b"not ours")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert mine.exists() and unrelated.exists() and not stale.exists()


def test_reading_a_missing_or_odd_file_is_one_input_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_bytes(b"{}")
    assert read_bytes(tmp_path / "state.json") == b"{}"
    with open_input(tmp_path / "state.json") as handle:
        assert handle.read() == b"{}"
    with pytest.raises(InputError, match="face image .*gone.png not found"):
        read_bytes(tmp_path / "gone.png", "face image")
    with pytest.raises(InputError, match="face image .*gone.png not found"):
        with open_input(tmp_path / "gone.png", "face image"):
            pass
    with pytest.raises(InputError, match="face image .* is a folder, not a file"):
        read_bytes(tmp_path, "face image")
    with pytest.raises(InputError, match="face image .* is a folder, not a file"):
        with open_input(tmp_path, "face image"):
            pass


def test_a_read_failing_halfway_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "face.png").write_bytes(b"\x89PNG")
    with pytest.raises(InputError, match="cannot read face image .*face.png: Input/output"):
        with open_input(tmp_path / "face.png", "face image") as handle:
            handle.read(4)
            raise OSError(errno.EIO, "Input/output error")


def test_partials_of_killed_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    final = tmp_path / "made.mp4"
    left = tmp_path / f"made.partial-{dead_pid}-picture.partial-{dead_pid}.mp4"
    live = tmp_path / f"made.partial-{os.getpid()}.mp4"
    other = tmp_path / f"other.partial-{dead_pid}.mp4"
    for path in (left, live, other):
        path.write_bytes(b"x")
    assert files_module.remove_stale_partials(final) == [left]
    assert live.exists() and other.exists()
