"""Request bodies for blob uploads, and sending them with sendfile(2).

A file's bytes go from the page cache to the socket without passing through Python (the oras Go
CLI gets the same from Go's net/http); on TLS sockets Python's `socket.sendfile` falls back to
plain sends by itself. Other sources (generated tar streams, blobs read from another registry) are
streamed through requests in large pieces. Either way the body has exactly the declared length,
reports progress, and can be abandoned mid-way.
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import ssl
import stat
import threading
import urllib.parse
from dataclasses import dataclass

import requests
from requests.structures import CaseInsensitiveDict

from modelpack.errors import IntegrityError
from modelpack.store.target import Opener, Progress
from modelpack.streams import ByteStream

UPLOAD_CHUNK = 1024 * 1024
SENDFILE_PIECE = 8 * 1024 * 1024  # between pieces: progress and the abandon flag are checked
MAX_RESPONSE = 1024 * 1024


class Abandoned(Exception):
    """Raised to stop sending a body: the registry turned out to have the blob already."""


@dataclass
class FileBody:
    """An upload body: opened afresh for every attempt, so a retry re-reads instead of buffering."""

    opener: Opener
    size: int
    progress: Progress | None = None
    abort: threading.Event | None = None


class SizedReader(io.RawIOBase):
    """Feeds requests: exposes the length (so it sends Content-Length, not chunked encoding), reads in
    large pieces, reports progress, and checks the source has exactly the size it was hashed at."""

    def __init__(self, source: ByteStream, body: FileBody) -> None:
        self._source = source
        self._body = body
        self._sent = 0

    def __len__(self) -> int:
        return self._body.size

    def tell(self) -> int:  # requests asks, to work out how much is left to send
        return self._sent

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._body.abort is not None and self._body.abort.is_set():
            raise Abandoned()
        size = self._body.size
        want = UPLOAD_CHUNK if n is None or n < 0 else max(n, UPLOAD_CHUNK)
        chunk = self._source.read(min(want, size - self._sent) if self._sent < size else 1)
        if self._sent >= size:
            if chunk:
                raise IntegrityError("a file grew while it was being uploaded")
            return b""
        if not chunk:
            raise IntegrityError("a file shrank while it was being uploaded")
        self._sent += len(chunk)
        if self._body.progress:
            self._body.progress(len(chunk))
        return chunk

    def close(self) -> None:
        self._source.close()
        super().close()


def is_regular_file(stream: object) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)  # type: ignore[attr-defined]
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False


def send_with_sendfile(method: str, url: str, headers: dict[str, str], source: ByteStream, body: FileBody,
                       verify: bool | str, timeout: tuple[float, float]) -> requests.Response:
    """One request whose body is `source` (a regular file), sent with sendfile(2) over a connection of
    its own. Errors are raised as requests' exception types, so callers retry them the same way."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname or "", port, timeout=timeout[1],
                                           context=_ssl_context(verify))
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", port, timeout=timeout[1])
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for key, value in headers.items():
                if key.lower() != "content-length":
                    conn.putheader(key, value)
            conn.putheader("Content-Length", str(body.size))
            conn.endheaders()
            _sendfile(conn.sock, source, body)
            raw = conn.getresponse()
            content = raw.read(MAX_RESPONSE)
        except ssl.SSLError as exc:
            raise requests.exceptions.SSLError(str(exc)) from None
        except TimeoutError as exc:
            raise requests.Timeout(str(exc)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise requests.ConnectionError(str(exc)) from None
    finally:
        conn.close()
    resp = requests.Response()
    resp.status_code = raw.status
    resp.reason = raw.reason
    resp.headers = CaseInsensitiveDict(raw.getheaders())
    resp._content = content
    resp._content_consumed = True  # type: ignore[attr-defined]
    resp.raw = io.BytesIO(content)  # what Response.close() and error reporting expect to find
    resp.url = url
    resp.encoding = "utf-8"
    return resp


def _sendfile(sock: socket.socket, source: ByteStream, body: FileBody) -> None:
    offset = 0
    while offset < body.size:
        if body.abort is not None and body.abort.is_set():
            raise Abandoned()
        count = min(SENDFILE_PIECE, body.size - offset)
        sent = sock.sendfile(source, offset, count)  # type: ignore[arg-type]
        if sent == 0:
            raise IntegrityError("a file shrank while it was being uploaded")
        offset += sent
        if body.progress:
            body.progress(sent)


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    import certifi  # the same trust store requests uses

    return ssl.create_default_context(cafile=certifi.where())
