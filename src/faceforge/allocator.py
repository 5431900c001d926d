"""Keep freed memory in the process, so each training step does not page-fault its tensors in.

glibc serves every allocation over 32 MB (and, by default, many smaller ones) with a fresh
``mmap`` and returns it with ``munmap`` when freed. A training step allocates and frees the same
few hundred megabytes of activations and gradients every iteration, so the kernel zero-fills and
maps them again each time: on the 2-core benchmark machine that was about a fifth of the step.
Telling glibc to serve everything from its heap and never trim it makes the second and later
steps reuse the same pages. It is a process-wide setting, so the shell that runs a job applies
it (the CLI for train and convert), never the library; elsewhere (other C libraries, other
systems) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["reuse_freed_memory"]

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_applied = False


def reuse_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse; True when the setting took effect."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # 0 mmap'd chunks: every block comes from the heap; a 2 GiB trim threshold (the largest an
    # int holds, near enough) keeps freed heap pages mapped for the next step.
    _applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    return _applied
