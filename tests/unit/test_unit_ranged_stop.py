"""A blob fetched in ranges and stopped part-way keeps only the pieces received whole from its start. Its
file had the whole size allocated and several pieces written at once: a piece stopped a few bytes short
of its end left a gap that the next pull's search for the first hole missed (pages are the unit), so the
resumed download took those zeros for the blob's bytes, failed the digest and fetched it all again."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from modelpack.errors import TransportError
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor
from modelpack.store.ranged import POLICY, Budget, Splitter

MIB = 1024 * 1024


class _BreaksAt(io.RawIOBase):
    """The blob's bytes from `start`; the connection breaks when it reaches `cut` (whichever connection),
    once `after` is set: by the first stream, once it has read the first piece (`first_end`)."""

    def __init__(self, blob: bytes, start: int, cut: int, after: threading.Event, first_end: int | None = None) -> None:
        self._blob, self._at, self._cut, self._after, self._first_end = blob, start, cut, after, first_end

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._at == self._cut:
            self._after.wait(10)
            raise TransportError("connection cut")
        stop = self._cut if self._at < self._cut else len(self._blob)
        n = min(len(target), stop - self._at)
        target[:n] = self._blob[self._at:self._at + n]
        self._at += n
        if self._first_end is not None and self._at >= self._first_end:
            self._after.set()
        return n


def test_a_stopped_ranged_fetch_keeps_only_its_whole_start(tmp_path: Path) -> None:
    piece = POLICY.piece_min
    blob = os.urandom(5 * piece + 12345)
    desc = Descriptor(mediaType="application/octet-stream", digest=digests.of_bytes(blob), size=len(blob))
    cut = 2 * piece - 100  # the second piece stops 100 bytes short of its end
    first_in = threading.Event()
    splitter = Splitter(desc, lambda start, end: _BreaksAt(blob, start, cut, first_in), 2, Budget(), POLICY)
    path = tmp_path / "partial"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with pytest.raises(TransportError):
            splitter.run(_BreaksAt(blob, 0, cut, first_in, piece), fd, 0, digests.Verifier(desc.digest, desc.size))
    finally:
        os.close(fd)
    kept = path.read_bytes()
    assert len(kept) == piece  # the first piece alone: not the allocated whole, not the gap after it
    assert kept == blob[:piece]
