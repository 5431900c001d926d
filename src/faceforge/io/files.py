"""Safe writes: files replaced atomically (never left half-written) and output folders
created with errors that say which folder failed and why."""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from faceforge.errors import OutputError

_DISK_FULL_HINT = "free some space on that disk or choose an output folder on another disk"


def _output_error(action: str, path: Path, exc: OSError) -> OutputError:
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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a
    part: temporary file in the same folder, fsync, `os.replace`.

    The temporary file is removed on any failure, Ctrl-C included. Raises `OutputError`.
    """
    target = Path(path)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 lets the umask give the file the same mode a plain open() would;
        # tempfile.mkstemp would leave it at 0o600.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise _output_error("writing", target, exc) from exc
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        try:
            temp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _output_error("writing", target, exc) from exc
        raise
    _fsync_folder(target.parent)


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
        raise _output_error("creating folder", folder, exc) from exc
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
        raise _output_error("writing into folder", folder, exc) from exc
    return folder
