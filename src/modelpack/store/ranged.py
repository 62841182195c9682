"""Ranged parallel download of one large blob: when a single connection, not this process, sets the pace,
the rest of the blob is fetched over several connections, each range written at its place in the file.

A large blob starts as one stream, like any other (on a fast link that stays the fastest way: one copy
from the socket, hashed on a second core). After each read the receiver asks `Splitter.due`, which looks
at the socket: when the bytes waiting there are nearly none after most reads of a window, this process is
waiting for the connection, not the other way round; when the stream is also under `max_rate`, the rest is
cut into pieces that up to MODELPACK_RANGE_CONNECTIONS connections fetch, lowest first. (On loopback the
socket is always full, even when the machine is so busy that this process gets little CPU: a stream
starved of CPU is not split, since more connections would only compete for the same cores.) The first
stream keeps reading while its next piece is free. The first ranged request is a probe: until a 206
with the requested Content-Range confirms that ranges are served, no other connection starts; any other
answer (a 200 with the whole blob from a server that ignores Range, an error) leaves the blob to the
first stream alone; a range answered with other bytes after good ones (a shifted Content-Range, a 200) stops
the ranges, and the rest comes from one plain stream of the whole blob (no Range), said once with -v.
Pieces go to the URL the blob came from after redirects (object storage), authenticated for that host only
(see `hostauth`); each resumes a cut connection and is watched for stalls like any download (see
`blobstream`).

A hashing thread follows the completed prefix of the file, reading it back from the page cache, so when
the last piece lands at most a few pieces remain to hash; the digest is checked over the whole file as
before, and the caller renames only a verified file. Memory stays constant: one buffer per connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from modelpack.environment import env_int
from modelpack.errors import IntegrityError, ModelpackError
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.digest import Verifier
from modelpack.store.blobstream import RangeOpener, RangesIgnored
from modelpack.store.ranged_pieces import Pieces, PieceStopped
from modelpack.store.target import Progress
from modelpack.streams import ByteStream, fill
from modelpack.threads import worker_thread

log = logging.getLogger("modelpack.registry")
MIB = 1024 * 1024
DEFAULT_CONNECTIONS = 8
MAX_CONNECTIONS = 16
TOTAL_EXTRA = 16  # extra connections for all the blobs one receiver fetches at once (2 blobs x 8)
CHUNK = 1024 * 1024
HASH_CHUNK = 4 * 1024 * 1024
NEARLY_EMPTY = 64 * 1024  # bytes waiting on a socket after a read that count as none


@dataclass(frozen=True)
class Policy:
    """When a stream is split, and into what."""

    min_bytes: int = 64 * MIB  # smaller blobs are over before more connections pay off
    window: float = 0.5  # seconds of one stream measured per decision
    max_rate: float = 128 * MIB  # bytes/s: a stream this fast is left alone
    min_waiting: float = 0.5  # share of a window's reads after which the socket was (nearly) empty
    max_cpu: float = 0.5  # where the socket cannot be looked at: cores used meanwhile, above which we are the limit
    min_rest: int = 16 * MIB  # bytes that must be left to split
    piece_min: int = 4 * MIB
    piece_max: int = 64 * MIB


POLICY = Policy()


def default_connections() -> int:
    """Connections for one blob: MODELPACK_RANGE_CONNECTIONS, else 8 (1 turns ranged downloads off).

    Raises:
        UsageError: the variable is not a whole number from 1 to 16.
    """
    return env_int("MODELPACK_RANGE_CONNECTIONS", DEFAULT_CONNECTIONS, minimum=1, maximum=MAX_CONNECTIONS)


def validate_range_connections() -> None:
    """Check MODELPACK_RANGE_CONNECTIONS now, at a command's start: a typo must stop it there, not once a
    large blob is fetched in ranges, possibly after minutes of transfer.

    Raises:
        UsageError: the variable is not a whole number from 1 to 16.
    """
    default_connections()


class Budget:
    """Extra connections shared by the blobs one receiver fetches at once."""

    def __init__(self, total: int = TOTAL_EXTRA) -> None:
        self._left = total
        self._lock = threading.Lock()

    def available(self) -> bool:
        return self._left > 0

    def take(self, wanted: int) -> int:
        with self._lock:
            got = max(0, min(wanted, self._left))
            self._left -= got
            return got

    def give(self, count: int) -> None:
        with self._lock:
            self._left += count


class Splitter:
    """Watches one blob's stream and, once `due`, fetches the rest of it in ranges (`run`)."""

    def __init__(self, desc: Descriptor, opener: RangeOpener, connections: int, budget: Budget,
                 policy: Policy, queued: Callable[[], int | None] | None = None,
                 restart: Callable[[], ByteStream | None] | None = None) -> None:
        self._desc = desc
        self._restart = restart  # the whole blob again as one plain stream, for when ranges go wrong
        self._queued = queued  # bytes waiting on the stream's socket
        self._reads = self._waiting = 0  # reads in this window, and those after which the socket was empty
        self._opener = opener
        self._connections = connections
        self._budget = budget
        self._policy = policy
        self._window: tuple[float, float, int] | None = None  # (monotonic, process CPU, bytes) at its start

    @classmethod
    def for_source(cls, desc: Descriptor, source: ByteStream, fd: int, budget: Budget,
                   connections: int | None = None) -> Splitter | None:
        """A splitter for `source` when it could be split: large enough, ranges not refused up front,
        ranges enabled, and `fd` readable (the hashing thread reads the pieces back). Else None."""
        policy = POLICY
        if desc.size < policy.min_bytes:
            return None
        connections = default_connections() if connections is None else connections
        if connections < 2:
            return None
        ranges = getattr(source, "ranges", None)
        opener = ranges() if callable(ranges) else None
        if opener is None or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDWR:
            return None
        return cls(desc, opener, connections, budget, policy, getattr(source, "queued", None),
                   getattr(source, "restart", None))

    def due(self, received: int) -> bool:
        """Told the bytes received so far after each piece of the stream: whether to split now."""
        now = time.monotonic()
        waiting = self._queued() if self._queued is not None else None
        if waiting is not None:
            self._reads += 1
            self._waiting += waiting < NEARLY_EMPTY
        if self._window is None:
            self._window = (now, time.process_time(), received)
            return False
        start, cpu_start, bytes_start = self._window
        elapsed = now - start
        if elapsed < self._policy.window:
            return False
        cpu = time.process_time()  # all of this process's threads: other blobs, hashing, everything
        reads, waited = self._reads, self._waiting
        self._window, self._reads, self._waiting = (now, cpu, received), 0, 0
        if self._desc.size - received < self._policy.min_rest or not self._budget.available():
            return False
        rate, cores = (received - bytes_start) / max(elapsed, 1e-9), (cpu - cpu_start) / max(elapsed, 1e-9)
        if rate >= self._policy.max_rate:
            return False
        if reads:
            return waited >= self._policy.min_waiting * reads
        return cores < self._policy.max_cpu

    def run(self, source: ByteStream, fd: int, received: int, verifier: Verifier,
            progress: Progress | None = None) -> None:
        """Fetch bytes [received, size) of the blob into `fd` and hash them into `verifier` (which holds
        the first `received`), `source` reading on from `received`.

        Raises:
            TransportError, RegistryError, ...: a piece failed (after its resumes) or the transfer was
                cancelled; the other connections stop at their next read.
            IntegrityError: the file could not be read back whole.
        """
        size = self._desc.size
        per_piece = (size - received) // (self._connections * 4)
        per_piece = max(self._policy.piece_min, min(self._policy.piece_max, per_piece))
        pieces = Pieces(received, size, per_piece)
        # What the ranges tell `progress`, counted: on a fall back to one stream, the bytes of pieces stopped
        # part-way (or past a gap) were told already and are not told again as the stream writes them anew.
        told = _Told(progress) if progress else None
        progress = told
        extra = self._budget.take(self._connections - 1)
        log.info("fetching the last %d bytes of %s over %d connections", size - received, self._desc.digest,
                 extra + 1)
        with contextlib.suppress(OSError):  # a filesystem without fallocate fills the holes as it goes
            os.posix_fallocate(fd, received, size - received)
        threads = [worker_thread(self._helper, pieces, fd, progress, n == 0, name=f"range-{n}")
                   for n in range(extra)]
        threads.append(worker_thread(self._hash, pieces, fd, verifier, name="range-hash"))
        for thread in threads:
            thread.start()
        try:
            self._primary(source, pieces, fd, progress)
        except PieceStopped:
            pass  # another connection failed first: its failure is raised below
        except BaseException as exc:
            pieces.fail(exc)
            # A shifted range met by the first stream, once it takes pieces too, falls back as one met by
            # another connection does (below), not only when another met it first.
            if not isinstance(exc, RangesIgnored):
                raise
        finally:
            for thread in threads:
                thread.join()
            self._budget.give(extra)
            whole = pieces.whole_until()
            if whole < self._desc.size:
                # Stopped: keep only the pieces received whole from the blob's start. A piece stopped short
                # of its end leaves a gap that looking for the file's first hole misses when it is under a
                # page or two before the next piece's bytes, and a resumed download would take its zeros
                # for the blob's bytes (caught by the digest, at the cost of fetching it all again).
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, whole)
        failure = pieces.failure
        if isinstance(failure, RangesIgnored):
            source.close()  # (the first stream, stopped with the ranges: its connection is of no more use)
            if self._plain_stream(fd, verifier, failure, received + (told.total if told else 0), told):
                return
        pieces.raise_failure()

    def _plain_stream(self, fd: int, verifier: Verifier, failure: RangesIgnored, reported: int,
                      progress: Progress | None) -> bool:
        """After a range answered with other bytes than asked for: the rest of the blob, from the end of the
        bytes hashed so far, out of one plain stream of the whole blob (a server that shifts one range may
        shift the next, so none is asked for). False when the source cannot be opened so.

        Args:
            reported: bytes `progress` was told of already, the blob's first ones and all the ranges'
                (some discarded since): the stream tells only what it writes past as many.

        Raises:
            TransportError, RegistryError, ...: as the stream's request.
            IntegrityError: the stream ended before the blob's end.
        """
        stream = self._restart() if self._restart is not None else None
        if stream is None:
            return False
        hashed, size = verifier.size, self._desc.size
        log.info("%s: the rest of it, from byte %d, over one plain stream", failure, hashed)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, hashed)  # what lies past the hashed bytes is written again from the stream
        buffer = memoryview(bytearray(CHUNK))
        offset = 0
        with stream:
            while offset < size:
                n = fill(stream, buffer[:min(len(buffer), size - offset)])
                if not n:
                    raise IntegrityError(f"a blob ended at {offset} bytes, before its declared end")
                if offset + n > hashed:  # (the bytes before were received and hashed: read past)
                    at, kept = max(offset, hashed), buffer[max(0, hashed - offset):n]
                    verifier.update(kept)
                    _write_at(fd, kept, at)
                    if progress and offset + n > reported:
                        progress(offset + n - max(offset, reported))
                offset += n
        return True

    # -- the connections --------------------------------------------------------------------------
    def _primary(self, source: ByteStream, pieces: Pieces, fd: int, progress: Progress | None) -> None:
        """The first stream: reads on while its next piece is free; once ranges are confirmed and another
        connection holds that piece, it closes and takes pieces like the others."""
        buffer = memoryview(bytearray(CHUNK))
        index: int | None = 0
        while index is not None:
            start, end = pieces.bounds[index]
            _copy(source, fd, start, end, buffer, pieces, progress)
            pieces.done(index)
            index = pieces.next_for_primary(index + 1)
        if pieces.confirmed and not pieces.failure:
            source.close()
            self._take_pieces(pieces, fd, progress, buffer)

    def _helper(self, pieces: Pieces, fd: int, progress: Progress | None, probe: bool) -> None:
        try:
            if probe or pieces.wait_confirmed():
                self._take_pieces(pieces, fd, progress, memoryview(bytearray(CHUNK)), probe=probe)
        except BaseException as exc:
            pieces.fail(exc)

    def _take_pieces(self, pieces: Pieces, fd: int, progress: Progress | None, buffer: memoryview,
                     probe: bool = False) -> None:
        while (index := pieces.claim()) is not None:
            start, end = pieces.bounds[index]
            try:
                stream = self._opener(start, end)
            except ModelpackError as exc:
                # Before any 206, a refusal (or any failure) of the probe leaves the blob to the first stream.
                if probe and not pieces.confirmed and not isinstance(exc, IntegrityError):
                    log.info("ranges of %s not served (%s): one connection", self._desc.digest, exc)
                    pieces.refuse(index)
                    return
                if isinstance(exc, RangesIgnored):
                    raise RangesIgnored(f"{exc} after serving other ranges") from None
                raise
            probe = False
            pieces.confirm()
            with stream:
                _copy(stream, fd, start, end, buffer, pieces, progress)
            pieces.done(index)

    def _hash(self, pieces: Pieces, fd: int, verifier: Verifier) -> None:
        """Hash the file's pieces in order, each as soon as it and those before it are complete."""
        view = memoryview(bytearray(HASH_CHUNK))
        try:
            for index, (start, end) in enumerate(pieces.bounds):
                if not pieces.wait_done(index):
                    return
                offset = start
                while offset < end:
                    n = os.preadv(fd, [view[:min(len(view), end - offset)]], offset)
                    if n <= 0:
                        raise IntegrityError(f"{self._desc.digest}: the file ended at {offset} bytes while hashed")
                    verifier.update(view[:n])
                    offset += n
        except BaseException as exc:
            pieces.fail(exc)


class _Told:
    """A progress callback that counts what it is told, from every connection's thread."""

    def __init__(self, progress: Progress) -> None:
        self.total = 0
        self._progress = progress
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.total += n
        self._progress(n)


def _copy(stream: ByteStream, fd: int, start: int, end: int, buffer: memoryview, pieces: Pieces,
          progress: Progress | None) -> None:
    """Write bytes [start, end) of the blob from `stream` (positioned at `start`) at their offsets."""
    offset = start
    while offset < end:
        if pieces.failure is not None:
            raise PieceStopped()
        n = fill(stream, buffer[:min(len(buffer), end - offset)])
        if not n:
            raise IntegrityError(f"a blob ended at {offset} bytes, before its declared end")
        _write_at(fd, buffer[:n], offset)
        offset += n
        if progress:
            progress(n)


def _write_at(fd: int, view: memoryview, offset: int) -> None:
    """All of `view` written at `offset` of the file."""
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
