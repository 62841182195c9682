"""Writing a blob to a file as it arrives, checking its size and digest before anyone may use it.

The local store's ingest and a pull straight into a directory (`pull -o`) both receive blobs this
way: each byte is read into a reused buffer, written once and hashed from that same buffer.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor
from modelpack.store.ranged import Budget, Splitter
from modelpack.store.target import Progress
from modelpack.store.upload import Stopped
from modelpack.store.write_behind import WINDOW, WriteBehind
from modelpack.streams import ByteStream, fill

CHUNK = 1024 * 1024
# A blob at least this large may be hashed on a second thread while it is received and written.
THREADED_HASH_MIN_BYTES = 64 * 1024 * 1024


class Receiver:
    """Receives blobs into files, several at once; decides which of them get a hashing thread."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self._stop = stop  # set when the transfer is abandoned: a file being copied in stops at its next piece
        self._lock = threading.Lock()
        self._large = 0  # large blobs being received now
        self._budget = Budget()  # extra connections for blobs fetched in ranges

    def receive(self, desc: Descriptor, source: ByteStream, fd: int, progress: Progress | None = None,
                resumed: digests.Verifier | None = None) -> None:
        """Write `source` to the open file `fd` (closed on return), then flush it to disk. A large blob
        whose stream turns out to be capped by its connection gets the rest fetched in ranges over several
        (see `ranged`; `source` must offer `ranges()`, and `fd` be open for reading too).

        Args:
            desc: the blob expected: its digest and size are checked over every byte written.
            source: the blob's bytes.
            fd: a new, empty file opened for writing (or reading and writing).
            progress: told the size of each piece written.
            resumed: a download resumed mid-blob: `fd` already holds (and is positioned after) the bytes this
                verifier has hashed, and `source` yields the rest.

        Raises:
            IntegrityError: the bytes do not match `desc` (the file then holds them: delete it).
        """
        verifier = resumed or digests.Verifier(desc.digest, desc.size)
        large = desc.size >= THREADED_HASH_MIN_BYTES
        with self._lock:
            # A second core for hashing only while there are cores to spare: with several large blobs
            # arriving at once, the extra threads only add hand-offs (measured).
            threaded = large and self._large * 2 < (os.cpu_count() or 1)
            self._large += large
        # A buffer the blob's size when it is small: zeroing a full chunk per 32 KiB file costs more than its copy.
        piece = min(CHUNK, max(desc.size, 4096))
        hashing = digests.ThreadedHashing(verifier, piece) if threaded else digests.InlineHashing(verifier, piece)
        try:
            splitter = Splitter.for_source(desc, source, fd, self._budget)
            behind = WriteBehind(fd, verifier.size) if desc.size >= 2 * WINDOW else None
            with os.fdopen(fd, "wb", buffering=0) as out:
                received = verifier.size
                while True:
                    if self._stop is not None and self._stop.is_set():  # (a registry's stream stops by itself)
                        raise Stopped("the copy was stopped")
                    buffer = hashing.buffer()
                    n = fill(source, memoryview(buffer))
                    if not n:
                        break
                    write_all(out, memoryview(buffer)[:n])
                    hashing.hashed(buffer, n)
                    if progress:
                        progress(n)
                    received += n
                    if behind is not None:
                        behind.wrote(received)
                    if splitter is not None and splitter.due(received):
                        hashing.finish()  # the ranges' hashing goes on from here, in order
                        splitter.run(source, out.fileno(), received, verifier, progress)
                        break
                hashing.finish()
                verifier.verify()
                os.fsync(out.fileno())  # renamed into place next: its bytes must be on disk first
        except BaseException:
            hashing.close()
            raise
        finally:
            with self._lock:
                self._large -= large


def write_all(out: Any, chunk: bytes | memoryview) -> None:
    view = memoryview(chunk)
    while view:
        written = out.write(view)
        view = view[written:]
