"""Digests: parsing, validation and hashing while streaming."""

from __future__ import annotations

import hashlib
import mmap
import os
import queue
import re
import threading
from collections.abc import Callable

from modelpack.errors import IntegrityError, UsageError
from modelpack.streams import ByteStream, fill
from modelpack.threads import worker_thread

_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
CHUNK = 4 * 1024 * 1024


def validate(digest: str) -> str:
    """Return `digest` if it is a well-formed sha256/sha512 digest, else raise."""
    if not _DIGEST.fullmatch(digest):
        raise UsageError(f"not a valid digest: {digest!r} (expected sha256:<64 hex>)")
    return digest


def is_digest(text: str) -> bool:
    return bool(_DIGEST.fullmatch(text))


def of_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_part(digest: str) -> tuple[str, str]:
    """('sha256', '<hex>') of a validated digest."""
    alg, _, hexd = validate(digest).partition(":")
    return alg, hexd


class Verifier:
    """Hashes bytes as they pass and checks the result against an expected digest and size."""

    def __init__(self, expected_digest: str, expected_size: int | None = None) -> None:
        alg, _ = hex_part(expected_digest)
        self.expected = expected_digest
        self.expected_size = expected_size
        self._hash = hashlib.new(alg)
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)
        if self.expected_size is not None and self.size > self.expected_size:
            raise IntegrityError(
                f"content of {self.expected} is larger than its declared size {self.expected_size}", self.expected
            )

    def verify(self) -> None:
        if self.expected_size is not None and self.size != self.expected_size:
            raise IntegrityError(
                f"content of {self.expected} has {self.size} bytes, its descriptor says {self.expected_size}",
                self.expected,
            )
        actual = f"{self._hash.name}:{self._hash.hexdigest()}"
        if actual != self.expected:
            raise IntegrityError(f"digest mismatch: expected {self.expected}, got {actual}", self.expected)


class InlineHashing:
    """Buffers for copying a stream, hashed where they are filled: `buffer()` (always the same one),
    then `hashed(buffer, n)` once its first n bytes are used."""

    def __init__(self, verifier: Verifier, size: int = CHUNK) -> None:
        self._verifier = verifier
        self._buffer = bytearray(size)

    def buffer(self) -> bytearray:
        return self._buffer

    def hashed(self, buffer: bytearray, n: int) -> None:
        self._verifier.update(memoryview(buffer)[:n])

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


class ThreadedHashing(InlineHashing):
    """The same, hashed on a thread of its own: for one large stream, hashing (~0.5 s/GiB) then runs on
    a second core beside the reading and writing instead of after them on the same one. Buffers come
    from a small pool, so the copy runs at most `buffers` pieces ahead of the hash."""

    def __init__(self, verifier: Verifier, size: int = CHUNK, buffers: int = 4) -> None:
        super().__init__(verifier, size)
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(buffers):
            self._free.put(bytearray(size))
        self._work: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = worker_thread(self._run, name="hash", daemon=True)
        self._thread.start()

    def buffer(self) -> bytearray:
        if self._error is not None:
            raise self._error
        return self._free.get()

    def hashed(self, buffer: bytearray, n: int) -> None:
        self._work.put((buffer, n))

    def finish(self) -> None:
        """Wait until everything handed over is hashed; raise what hashing raised."""
        self.close()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        if self._thread.is_alive():
            self._work.put(None)
            self._thread.join()

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            buffer, n = item
            if self._error is None:
                try:
                    super().hashed(buffer, n)
                except BaseException as exc:  # e.g. more bytes than declared: the copying side stops
                    self._error = exc
            self._free.put(buffer)


_buffers = threading.local()


def _scratch() -> memoryview:
    """This thread's hashing buffer, allocated once: a fresh, zeroed 4 MiB per file cost more than
    hashing a small file does (a model of 2,000 files of 32 KiB zeroed 8 GB). An anonymous mapping, not
    a bytearray: its pages take memory only once a read fills them, so hashing small files does not
    hold 4 MiB per thread (8 MB of a push's peak RSS)."""
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = _buffers.view = memoryview(mmap.mmap(-1, CHUNK))
    return view


def of_stream(stream: ByteStream, progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """sha256 digest and size of everything left in `stream`, read in constant memory through one
    reused buffer; `progress(n)` is told of each piece hashed."""
    h = hashlib.sha256()
    size = 0
    view = _scratch()
    while n := fill(stream, view):
        h.update(view[:n])
        size += n
        if progress is not None:
            progress(n)
    return "sha256:" + h.hexdigest(), size


def verify_stream(stream: ByteStream, expected_digest: str, expected_size: int | None = None) -> None:
    """Read everything left in `stream` (through one reused buffer) and raise IntegrityError unless it
    has the expected digest and size."""
    verifier = Verifier(expected_digest, expected_size)
    view = _scratch()
    while n := fill(stream, view):
        verifier.update(view[:n])
    verifier.verify()


def of_file(path: str | os.PathLike[str], progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    with open(path, "rb", buffering=0) as f:
        return of_stream(f, progress)
