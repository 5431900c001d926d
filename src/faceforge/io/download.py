"""Downloading a file over HTTP(S): resumed where an earlier attempt stopped, checked against
its SHA-256 before it is given its final name, so a half-downloaded or altered file is never
taken for the real one.

Nothing here runs unless asked for; with FACEFORGE_OFFLINE=1 in the environment it refuses
to touch the network at all (the test suite sets it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from faceforge.errors import InputError, OutputError
from faceforge.io.files import fsync_file, output_error

log = logging.getLogger(__name__)

OFFLINE_VARIABLE = "FACEFORGE_OFFLINE"
_CHUNK = 1 << 20


class DownloadError(InputError):
    """The file could not be fetched: offline, refused by the server, or not the published
    file (checksum mismatch)."""


def offline() -> bool:
    """Whether FACEFORGE_OFFLINE forbids the network."""
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def partial_download_path(dest: Path) -> Path:
    """Where the bytes of an unfinished download of `dest` wait to be resumed."""
    return dest.with_name(f".{dest.name}.part")


def download(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None,
    *,
    progress: Callable[[int, int | None], None] | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """Fetch `url` to `dest`; returns `dest`.

    Bytes arrive in a hidden ``.part`` file next to `dest`; a later call resumes it with an
    HTTP range request (or starts over if the server ignores ranges). When `sha256` is given
    the whole file must match it, or it is deleted and DownloadError raised; only then is it
    renamed to `dest`. `progress(done_bytes, total_bytes or None)` is called as it goes.
    """
    dest = Path(dest)
    if offline():
        raise DownloadError(f"not downloading {url}: {OFFLINE_VARIABLE} is set",
                            f"copy the file to {dest} by hand")
    part = partial_download_path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error("creating folder", dest.parent, exc) from exc
    done = part.stat().st_size if part.exists() else 0
    total: int | None = None
    request = urllib.request.Request(url, headers={"User-Agent": "faceforge"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            if done and response.status != 206:
                done = 0  # the server sent the whole file again
            length = response.headers.get("Content-Length")
            total = done + int(length) if length is not None else None
            try:
                with open(part, "ab" if done else "wb") as out:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
            except OSError as exc:
                raise output_error("writing", part, exc) from exc
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and done:  # asked to resume past the end: the part is complete
            log.debug("%s was already complete", part)
        else:
            raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}",
                                f"download it by hand and put it at {dest}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        if isinstance(exc, OutputError):
            raise
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"cannot download {url} ({reason}); {done} bytes are kept for "
                            "the next try", f"check the connection, or put the file at "
                            f"{dest} by hand") from None
    if total is not None and done < total:
        # The server closed the connection early without an error: keep what came.
        raise DownloadError(f"cannot download {url} (the connection closed after {done} of "
                            f"{total} bytes); {done} bytes are kept for the next try",
                            f"run the same command again, or put the file at {dest} by hand")
    if sha256 is not None:
        found = sha256_of(part)
        if found != sha256.lower():
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url} is not the published file: its SHA-256 is {found}, "
                                f"not {sha256}", "the download was deleted; try again later, "
                                "or get the file from its publisher")
    try:
        # Like io.files.atomic_output, whose last step this is: flushed, then renamed.
        fsync_file(part)
        os.replace(part, dest)
    except OSError as exc:
        raise output_error("writing", dest, exc) from exc
    return dest
