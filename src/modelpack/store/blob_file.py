"""A blob read as a seekable file, each read served by a Range request of a bounded window: for a reader
that needs a few parts of a large blob (a tar's headers: `tarfile` seeks over each member's data), so
the bytes fetched are those parts, not the blob.

The window starts small and doubles while reads follow each other (a tar of small files is then read in
few large requests, about its size), and is small again after a seek. Requests are counted and capped
(`Requests`, which several files may share);
each is exactly the range asked for (`ResumableBlob` refuses any other answer, unread: RangesIgnored), and
a short or stalled answer is resumed a bounded number of times, then fails. The bytes are not verified
(a part of a blob cannot be): they are what the registry served.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

from modelpack.streams import ByteStream, read_at_most

MIN_WINDOW = 16 * 1024
MAX_WINDOW = 4 * 1024 * 1024


class TooManyRequests(Exception):
    """Reading on would take more range requests than allowed."""


class Requests:
    """Range requests allowed to the files that share it (e.g. every layer of one image)."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.made = 0

    def take(self) -> None:
        """Count one more.

        Raises:
            TooManyRequests: it would be one more than allowed.
        """
        if self.made >= self.allowed:
            raise TooManyRequests(f"more than {self.allowed} range requests")
        self.made += 1


class RangedBlobFile(io.RawIOBase):
    """Bytes [0, size) of a blob as a read-only seekable file.

    Args:
        open_range: opens bytes [start, end) of the blob (raises RangesIgnored when not served).
        size: the blob's size.
        requests: the requests it may make (each raises TooManyRequests when none is left).
    """

    def __init__(self, open_range: Callable[[int, int], ByteStream], size: int, requests: Requests) -> None:
        self._open_range = open_range
        self._size = size
        self._requests = requests
        self._made = 0
        self._pos = 0
        self._window = MIN_WINDOW
        self._cache = b""
        self._cache_start = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fills `target` whole unless the blob ends first (tarfile takes a short read for its end)."""
        view, filled = memoryview(target), 0
        while filled < len(view) and self._pos < self._size:
            at = self._pos - self._cache_start
            if not 0 <= at < len(self._cache):
                self._fetch(len(view) - filled)
                at = 0
            n = min(len(view) - filled, len(self._cache) - at)
            view[filled:filled + n] = self._cache[at:at + n]
            filled += n
            self._pos += n
        return filled

    def _fetch(self, wanted: int) -> None:
        """Read a window from `_pos` into the cache: larger when this read follows the last one."""
        follows = self._pos == self._cache_start + len(self._cache)
        self._window = min(MAX_WINDOW, self._window * 2) if follows and self._made else MIN_WINDOW
        end = min(self._size, self._pos + max(self._window, min(wanted, MAX_WINDOW)))
        self._requests.take()
        self._made += 1
        stream = self._open_range(self._pos, end)
        try:
            data = read_at_most(stream, end - self._pos)  # (a stream never yields more than its range)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        if len(data) != end - self._pos:  # ResumableBlob raises first; any other source, here
            raise EOFError(f"bytes {self._pos}-{end - 1} came {len(data)} bytes long")
        self._cache, self._cache_start = data, self._pos
