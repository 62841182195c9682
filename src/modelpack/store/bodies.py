"""Response bodies read with a cap: what a registry sends is hostile until it has been counted.

Bodies are read raw and decompressed here, never by urllib3, so a small gzip body cannot unpack into
gigabytes: the decompressor is told how much output it may produce. We ask for `identity` anyway.
"""

from __future__ import annotations

import io
import zlib
from typing import TYPE_CHECKING, Any

from modelpack.errors import RegistryError
from modelpack.store.wire_errors import wire_errors

if TYPE_CHECKING:
    from modelpack.store.transport import Response

ERROR_BODY_LIMIT = 8 * 1024  # a registry's error document (oras-go's limit)
METADATA_LIMIT = 4 * 1024 * 1024  # manifests, tag pages, token responses
_PIECE = 64 * 1024
_DRAIN_LIMIT = 64 * 1024  # what may be read and dropped to keep a connection for the next request
# gzip, or deflate with either a zlib or a gzip header (32 = detect).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 32 + zlib.MAX_WBITS}


def read_at_most(resp: Response, limit: int) -> bytes:
    """Up to `limit + 1` bytes of the (decoded) body, so the caller can tell "over the limit" apart;
    the rest is left unread. Raises RegistryError for a content encoding other than gzip or deflate."""
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if resp.raw is None and encoding in ("", "identity"):
        return resp.content[:limit + 1]  # read whole by the curl engine: no copy (a manifest may be 4 MiB)
    raw: Any = resp.raw if resp.raw is not None else _Buffered(resp.content)
    if encoding in ("", "identity"):
        return _read_raw(raw, limit + 1)
    if encoding not in _WBITS:
        raise RegistryError(f"{_host(resp)} sent a body with Content-Encoding {encoding!r}, which modelpack "
                            "does not accept")
    inflater = zlib.decompressobj(_WBITS[encoding])
    out = bytearray()
    pending = b""
    while len(out) <= limit:
        if not pending:
            pending = raw.read(_PIECE, decode_content=False)
            if not pending:
                break
        try:
            out += inflater.decompress(pending, limit + 1 - len(out))
        except zlib.error:
            raise RegistryError(f"{_host(resp)} sent a corrupt {encoding} body") from None
        pending = inflater.unconsumed_tail
    return bytes(out)


def read_capped(resp: Response, limit: int, what: str) -> bytes:
    """The whole body, refused with RegistryError when it is over `limit` bytes."""
    data = read_at_most(resp, limit)
    if len(data) > limit:
        raise RegistryError(f"{what}: {_host(resp)} sent more than {limit} bytes; refused")
    return data


def read_error_body(resp: Response) -> bytes:
    """The first ERROR_BODY_LIMIT bytes of an error response (less is enough to explain an error)."""
    try:
        return read_at_most(resp, ERROR_BODY_LIMIT)[:ERROR_BODY_LIMIT]
    except wire_errors(RegistryError, ValueError):
        return b""  # an unreadable error body still leaves the status to report


def finish(resp: Response) -> None:
    """Done with a response. Its connection goes back to the pool when the body is over or what is
    left of it is short and counted (a HEAD, a 201, a small error document), so the next request
    reuses it; closing it instead would cost a new TCP (and TLS) connection per request. A body of
    unknown or large length is not read: the connection is closed."""
    raw = resp.raw
    if raw is None:
        return  # read whole: its connection is libcurl's to keep
    remaining = getattr(raw, "length_remaining", None)
    try:
        if remaining is not None and remaining <= _DRAIN_LIMIT and not getattr(raw, "chunked", True):
            if remaining:
                _read_raw(raw, remaining)
            original = getattr(raw, "_original_response", None)  # http.client's: knows `Connection: close`
            if raw.length_remaining == 0 and original is not None and not original.will_close:
                original.close()  # an empty body is never read to its end, which would mark it done
                raw.release_conn()
                return
    except wire_errors(ValueError):
        pass  # a broken connection is closed below, not reused
    resp.close()


def _read_raw(raw: object, count: int) -> bytes:
    out = bytearray()
    while len(out) < count:
        piece = raw.read(min(_PIECE, count - len(out)), decode_content=False)  # type: ignore[attr-defined]
        if not piece:
            break
        out += piece
    return bytes(out)


class _Buffered:
    """A body already in memory, read as urllib3's raw response is."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, count: int, decode_content: bool = False) -> bytes:
        return self._stream.read(count)


def _host(resp: Response) -> str:
    from urllib.parse import urlsplit

    return urlsplit(resp.url or "").netloc or "the registry"
