"""Sending a large file's bytes to the disk while it is still being received.

A received blob is fsynced before it is renamed into place (a crash must not leave a named file without its
bytes). Left to itself, the kernel keeps a file's pages dirty until that fsync (up to a tenth of memory
before background writeback starts), so the disk starts only when the network has finished, and a node
pulling a large model holds that much dirty memory, throttling every other writer on it (a 1 GiB pull onto
ext4 here: +1 GiB of dirty pages at its peak, +16 MiB with this). Here each window written is handed to the disk at once
(`sync_file_range` WRITE, which returns without waiting) and the window before it is waited for, the
pattern the kernel's developers give for streaming writes: the disk works while the network does, the
final fsync waits for the last window only, and no more than two windows of the file are ever dirty.
Where `sync_file_range` does not exist (not Linux) nothing changes: the fsync alone does the work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

WINDOW = 16 * 1024 * 1024
# sync_file_range(2) flags.
_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4

_RangeCall = Callable[[int, int, int, int], int]


@functools.cache
def _sync_file_range() -> _RangeCall | None:
    import ctypes  # here: only a blob of 2 WINDOWs or more is followed (ctypes costs ~1 ms to import)

    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


class WriteBehind:
    """Follows one file written from offset 0 onwards and keeps the disk writing behind it.

    Args:
        fd: the file, open for writing.
        start: where writing starts (a resumed download): the bytes before are the disk's already.
    """

    def __init__(self, fd: int, start: int = 0) -> None:
        self._fd = fd
        self._call = _sync_file_range()
        self._started = start  # bytes handed to the disk so far
        self._previous: tuple[int, int] | None = None  # the window handed over before the last one

    def wrote(self, end: int) -> None:
        """The file now holds bytes up to `end`: start a whole window's writeback once one is there."""
        if self._call is None or end - self._started < WINDOW:
            return
        window = (self._started, end - self._started)
        if self._call(self._fd, window[0], window[1], _WRITE) != 0:
            self._give_up()
            return
        if self._previous is not None:
            # Waiting for the window before keeps at most two windows dirty: the writer goes at the disk's pace.
            self._call(self._fd, self._previous[0], self._previous[1], _WAIT_BEFORE | _WRITE | _WAIT_AFTER)
        self._previous, self._started = window, end

    def _give_up(self) -> None:
        # A filesystem that refuses (some FUSE and network ones): the final fsync does it all, as before.
        self._call = None

    @staticmethod
    def available() -> bool:
        """Whether this system can start a file's writeback early."""
        return _sync_file_range() is not None
