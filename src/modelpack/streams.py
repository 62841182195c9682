"""The byte-stream type passed between stores, and a stream over generated chunks."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, Protocol

from modelpack.errors import IntegrityError


class ByteStream(Protocol):
    """What a blob source hands out: readable, closable, usable in `with`."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *args: Any) -> Any: ...


def file_changed(stream: object) -> IntegrityError | None:
    """The error naming the model file `stream` reads if it was written to, touched or replaced since the walk
    found it (one stat); None if not, or if the stream cannot tell (not a model file's: packing.reading)."""
    ask = getattr(stream, "changed_since_walk", None)
    found = ask() if callable(ask) else None
    return found if isinstance(found, IntegrityError) else None


def fill(stream: ByteStream, view: memoryview) -> int:
    """Read up to len(view) bytes of `stream` into `view`; 0 at its end. Through `readinto` where the
    stream has one (the bytes land in the caller's reused buffer), else through `read`."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return int(readinto(view) or 0)
    chunk = stream.read(len(view))
    view[:len(chunk)] = chunk
    return len(chunk)


def read_at_most(stream: ByteStream, limit: int) -> bytes:
    """Everything left in `stream`, up to `limit` + 1 bytes (so a caller can tell it was too long).
    Loops, since a raw stream may return fewer bytes than asked for."""
    parts: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = stream.read(min(1024 * 1024, limit + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


class IterStream(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (for tar layers generated on the fly)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n
