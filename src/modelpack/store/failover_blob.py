"""A mirror's blob stream that fails over: when it fails mid-way (cut beyond resuming, stalled, an error
when resuming), the rest of the blob, or of the range, comes from the next endpoint, asked for from the
byte where it stopped (see `mirrored`). The bytes already received stay: the digest is checked over the
whole blob where it lands, so wrong bytes from a mirror are not made good here (the check names it).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelpack.errors import AuthenticationError, ModelpackError, NotFoundError, RegistryError, TransportError
from modelpack.oci.descriptor import Descriptor
from modelpack.store.blobstream import RangesIgnored
from modelpack.streams import ByteStream

if TYPE_CHECKING:
    from modelpack.store.mirrored import MirroredRepository, Source

log = logging.getLogger("modelpack.mirrors")
# What a mirror's blob stream may fail with mid-way that the next endpoint can make good (wrong bytes cannot
# be: they are already written, and the digest check names the mirror).
MID_BLOB = (NotFoundError, TransportError, AuthenticationError, RegistryError)


class FailoverBlob(io.RawIOBase):
    """Bytes [start, end) of a blob (None: to its end) read from a mirror; when that stream fails mid-way,
    the rest comes from the next endpoint, asked for from where it stopped (see the module docstring).
    The bytes already received stay: the digest is checked over the whole blob where it lands."""

    def __init__(self, owner: MirroredRepository, desc: Descriptor, start: int, end: int | None,
                 opened: tuple[ByteStream, Source]) -> None:
        self._owner, self._desc, self._end = owner, desc, end
        self._offset = start
        self._stream, self._source = opened

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while True:
            try:
                n = int(self._stream.readinto(target) or 0)  # type: ignore[attr-defined]
            except MID_BLOB as exc:
                self._fail_over(exc)
                continue
            self._offset += n
            return n

    def _fail_over(self, exc: ModelpackError) -> None:
        source = self._source
        if source is self._owner.origin_source or source.repo().client.cancelled:
            raise exc
        source.dead = isinstance(exc, TransportError)
        log.info("blob %s: %s failed after byte %d (%s); the rest from the next endpoint", self._desc.digest,
                 source.label, self._offset, exc)  # the whole reason: cut, stalled, refused to resume
        with contextlib.suppress(Exception):
            self._stream.close()
        self._stream, self._source = self._owner.open_range(self._desc, self._offset, self._end, after=source)

    def ranges(self) -> Callable[[int, int], ByteStream] | None:
        """Other ranges of the blob (see `ResumableBlob.ranges`): from the endpoint serving this stream, each
        failing over like this stream."""
        ranges = getattr(self._stream, "ranges", None)
        opener = ranges() if callable(ranges) else None
        if opener is None:
            return None
        owner, desc, source = self._owner, self._desc, self._source

        def open_range(start: int, end: int) -> ByteStream:
            try:
                if source.dead:  # it failed another stream meanwhile: not asked again
                    raise TransportError(f"{source.endpoint.host} failed earlier in this command")
                stream: ByteStream = opener(start, end)
            except RangesIgnored:
                raise  # ranges not served: the stream that asked reads on alone (see `ranged`)
            except MID_BLOB as exc:
                log.info("blob %s: %s failed bytes %d-%d (%s); asking the next endpoint", desc.digest,
                         source.label, start, end - 1, exc)
                stream, served = owner.open_range(desc, start, end, after=source)
                if served is owner.origin_source:
                    return stream
                return FailoverBlob(owner, desc, start, end, (stream, served))
            return FailoverBlob(owner, desc, start, end, (stream, source))

        return open_range

    def restart(self) -> ByteStream | None:
        """The whole blob once more as one plain stream (see `ResumableBlob.restart`), from the endpoint
        serving this stream and failing over like it; None when that stream cannot be restarted."""
        restart = getattr(self._stream, "restart", None)
        if not callable(restart):
            return None
        return FailoverBlob(self._owner, self._desc, 0, None, (restart(), self._source))

    def queued(self) -> int | None:
        queued = getattr(self._stream, "queued", None)
        return queued() if callable(queued) else None

    def close(self) -> None:
        self._stream.close()
        super().close()
