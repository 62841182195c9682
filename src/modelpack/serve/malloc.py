"""Large allocations given back to the system when freed (glibc), so that the memory budget bounds the
server's resident memory, not just what it holds at one moment.

glibc serves a block of 128 KiB or more from `mmap` and unmaps it when freed, but after the first such
free it raises that threshold up to 32 MiB, and blocks under it come from per-thread heaps, which keep
freed memory: a server whose gRPC and worker threads each once held a 16 MiB message kept them all
(128 clients of 16 MiB, one at a time within the budget: 1.1 GB resident, 0.5 GB with the threshold kept
at 1 MiB). Elsewhere than glibc this does nothing.

It changes malloc for the whole process, so only `modelpack serve` (whose process is the server's) calls
it; `serve_model` does not: a program serving a model from its own process may call it itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
THRESHOLD = 1024 * 1024


def return_large_allocations() -> bool:
    """Fix glibc's mmap threshold at 1 MiB for this whole process (and so turn off glibc's raising it).

    Returns:
        True when set (glibc), False elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):  # musl has no mallopt
        return False
