"""The one place files are written: atomically (never left half-written), with an OutputError
naming the file for every way a write can fail, and output folders checked before use. Plain
files are read here too, with one InputError naming the file for every way a read can fail."""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from faceforge.errors import FaceforgeError, InputError, OutputError

log = logging.getLogger(__name__)

_DISK_FULL_HINT = "free some space on that disk or choose an output folder on another disk"


def output_error(action: str, path: Path, exc: OSError) -> OutputError:
    """Turn an OSError into an OutputError whose message names `path` and whose hint fits."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"disk full while {action} {path}", hint=_DISK_FULL_HINT)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OutputError(
            f"permission denied while {action} {path}",
            hint="choose a folder you may write to, or fix its permissions",
        )
    if exc.errno == errno.EROFS:
        return OutputError(
            f"{path} is on a read-only file system", hint="choose a writable output folder"
        )
    return OutputError(
        f"cannot finish {action} {path}: {exc.strerror or exc}",
        hint="check the output folder and the disk",
    )


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable. Some file systems refuse to open or sync a folder;
    # the data is already safe by then, so that is not worth failing for.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: Temporary files are named `.<final name>.tmp-<pid>-<random>`: hidden, next to the final file
#: (so the rename is atomic), and tagged with the writing process so that a later run can tell
#: the leftovers of a killed process from the files of one still running.
#: An SQLite store being written under such a name has its journal files beside it too.
_TEMP_NAME = re.compile(
    r"^\.(?P<final>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]{8}(?:-wal|-shm|-journal)?$")


def temporary_path(target: Path) -> Path:
    """Where a file for `target` is written before it is renamed into place."""
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def partial_path(final: Path) -> Path:
    """`clip_converted.mp4` -> `clip_converted.partial-<pid>.mp4`, for outputs that a library
    writes over many calls (videos, GIFs): same folder (so the rename is atomic), same suffix
    (so players and FFmpeg still know the format), never the final name."""
    return final.with_name(f"{final.stem}.partial-{os.getpid()}{final.suffix}")


def remove_stale_partials(final: Path) -> list[Path]:
    """Delete the partial files of `final` (see `partial_path`) that killed processes left;
    those of processes still running stay. Returns what was removed."""
    final = Path(final)
    pattern = re.compile(rf"^{re.escape(final.stem)}\.partial-(?P<pid>\d+)")
    removed = []
    try:
        entries = list(final.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match and not _process_is_running(int(match["pid"])):
            _unlink_quietly(entry)
            removed.append(entry)
    return removed


def remove_partial(path: Path | None) -> None:
    """Delete a partial output if it is there; a failure is logged, not raised, because this
    runs while something else is already failing."""
    if path is None:
        return
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove partial output %s: %s", path, exc)


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, durable: bool = True) -> Iterator[Path]:
    """Give a temporary path to write `path`'s new content to; on success it replaces `path`.

    Readers see the old file or the whole new one, never a part. For writers that insist on a
    file name of their own (safetensors, PyAV); whatever they leave at the temporary path is
    removed on any failure, Ctrl-C included. `durable` adds fsyncs of the file and its folder,
    so the new content also survives a power cut. OS errors become `OutputError`s naming `path`.
    """
    target = Path(path)
    temp = temporary_path(target)
    try:
        yield temp
        if durable:
            fsync_file(temp)
        os.replace(temp, target)
    except BaseException as exc:
        _unlink_quietly(temp)
        if isinstance(exc, OSError) and not isinstance(exc, FaceforgeError):
            raise output_error("writing", target, exc) from exc
        raise
    if durable:
        _fsync_folder(target.parent)


def atomic_write(
    path: str | os.PathLike[str], data: bytes | bytearray | memoryview | str, *,
    durable: bool = True,
) -> None:
    """Replace `path` with `data` (bytes, or text written as UTF-8) atomically; see
    `atomic_output`. Raises `OutputError`."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_output(path, durable=durable) as temp:
        # os.open with 0o666 lets the umask give the file the same mode a plain open() would;
        # tempfile.mkstemp would leave it at 0o600.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(fd, "wb") as handle:
            handle.write(payload)


def atomic_copy(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, durable: bool = True
) -> None:
    """Copy the file `src` to `dst` atomically (large files in chunks, never whole in memory)."""
    with open(src, "rb") as fin, atomic_output(dst, durable=durable) as temp:
        with open(temp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 22)


def append_text(path: str | os.PathLike[str], text: str) -> None:
    """Append `text` to `path` (created if missing). For logs read line by line: a line is
    written with one call, so a reader never sees half of one from a live writer."""
    target = Path(path)
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise output_error("writing", target, exc) from exc


def _input_error(what: str, path: Path, exc: OSError) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{what} {path} not found", "check the path")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"{what} {path} is a folder, not a file", "pass a file")
    return InputError(f"cannot read {what} {path}: {exc.strerror or exc}", "check its permissions")


def read_bytes(path: str | os.PathLike[str], what: str = "file") -> bytes:
    """The bytes of `path`; a missing or unreadable file is one `InputError` naming it."""
    target = Path(path)
    try:
        return target.read_bytes()
    except OSError as exc:
        raise _input_error(what, target, exc) from None


@contextmanager
def open_input(path: str | os.PathLike[str], what: str = "file") -> Iterator[BinaryIO]:
    """`path` opened for binary reading, for readers that seek rather than read it whole.

    An OSError while opening or reading it is one `InputError` naming it, as for `read_bytes`.
    """
    target = Path(path)
    try:
        with open(target, "rb") as handle:
            yield handle
    except OSError as exc:
        raise _input_error(what, target, exc) from None


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a closed file's content to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _process_is_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that killed processes left in `folder` (not those of
    processes still running); returns what was removed. Each command calls it, when it
    starts, for the folders it writes into."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match and not _process_is_running(int(match["pid"])):
            _unlink_quietly(entry)
            removed.append(entry)
    return removed


def backup_path(path: Path) -> Path:
    """`<name>.<YYYYmmdd-HHMMSS>.bak` beside `path`, not yet taken."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    number = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{stamp}-{number}.bak")
        number += 1
    return candidate


def ensure_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Create the folder `path` if needed, check it can be written to, and return it absolute.

    Raises `OutputError` naming the folder: a file in the way, no permission, read-only or
    full disk.
    """
    folder = Path(path).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise OutputError(
            f"{folder} is a file, not a folder", hint="choose another output folder or move it"
        )
    for ancestor in folder.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputError(
                    f"cannot create folder {folder}: {ancestor} is a file",
                    hint="choose another output folder or move that file",
                )
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error("creating folder", folder, exc) from exc
    # Permission bits alone do not tell (root, ACLs, read-only mounts), so write a probe file.
    probe = folder / f".faceforge-write-test-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
            probe.unlink()
    except OSError as exc:
        raise output_error("writing into folder", folder, exc) from exc
    return folder


def user_cache_dir() -> Path:
    """Where faceforge keeps what it measured or fetched on this machine: $FACEFORGE_CACHE_DIR,
    else $XDG_CACHE_HOME/faceforge, else ~/.cache/faceforge (not created here)."""
    explicit = os.environ.get("FACEFORGE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "faceforge"
