"""One blob download as a stream: the whole blob, or one byte range of it, resumed with `Range` when the
connection is cut, bounded by the stall watch of every response (see `watch`).

A stream remembers the URL the blob finally came from (a registry commonly redirects a blob GET to object
storage, often a presigned URL), so further ranges of the same blob go there directly; `RegistryClient.send`
authenticates each request for its own host only, so that host never sees the registry's credentials.
"""

from __future__ import annotations

import fcntl
import io
import logging
import re
import struct
import termios
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelpack import advice
from modelpack.errors import AuthenticationError, IntegrityError, NotFoundError, RegistryError, TransportError
from modelpack.oci.descriptor import Descriptor
from modelpack.store.not_http import final_failure
from modelpack.store.upload import SMALL_BODY

if TYPE_CHECKING:
    from modelpack.store.registry import RegistryRepository
    from modelpack.store.transport import Response

log = logging.getLogger("modelpack.registry")
MAX_RESUMES = 5  # cut connections one stream survives
# (At most 20 digits: a longer number is no blob's, and int() refuses one of 4300 with a ValueError.)
_CONTENT_RANGE = re.compile(r"bytes (\d{1,20})-(\d{1,20})/(\d{1,20}|\*)")

# Opens the bytes [start, end) of one blob as a resumable stream.
RangeOpener = Callable[[int, int], "ResumableBlob"]


class RangesIgnored(TransportError):
    """A request for a byte range was answered with something else (a 200 with the whole blob, or
    another range): the server does not serve ranges of this blob."""


class ResumableBlob(io.RawIOBase):
    """The bytes [start, end) of a blob (the whole blob by default), resumed with a Range request when the
    connection is cut mid-way.

    Args:
        repo: the repository the blob belongs to.
        desc: the blob.
        start, end: the range to read; `end` None means the blob's end.
        url: where to ask (a redirect target seen before), else the registry's blob URL.
        spent: seconds a quick fetch of the blob already waited (see `quick_fetch`): the first request's
            deadline is that much shorter.

    Raises:
        RangesIgnored: a range was asked for and the answer is not that range.
        TransportError, RegistryError, NotFoundError, AuthenticationError: as `RegistryClient.send`.
    """

    def __init__(self, repo: RegistryRepository, desc: Descriptor, start: int = 0, end: int | None = None,
                 url: str | None = None, spent: float = 0.0) -> None:
        self._repo = repo
        self._spent = spent
        self._desc = desc
        self._start = start
        self._end = desc.size if end is None else end
        self._offset = start
        self._resumes = 0
        self._resp: Response | None = None
        self._watch: Any = None
        self._registry_url = f"{repo.client.base}/v2/{repo.name}/blobs/{desc.digest}"
        self._url = url or self._registry_url
        self._scope = repo.client.scope_for("GET", f"/v2/{repo.name}/blobs/{desc.digest}")
        self._ranged = start > 0 or end is not None
        self._reader = self._open(self._get())

    @property
    def url(self) -> str:
        """The URL the bytes last came from (after redirects)."""
        return self._url

    def ranges(self) -> RangeOpener | None:
        """How to open other ranges of this blob, when its first answer allows them: a 200 with the whole
        blob, not `Accept-Ranges: none` (whether ranges are really served, the first 206 tells); or the 206
        of a download resumed mid-blob (see `resumable_ingest`), for the rest of it."""
        resp = self._resp
        if resp is None or self._end != self._desc.size:
            return None
        if self._ranged:
            if resp.status_code != 206 or self._start == 0:
                return None
        elif resp.status_code != 200 or resp.headers.get("Accept-Ranges", "").strip().lower() == "none" \
                or resp.headers.get("Content-Length", "").strip() != str(self._desc.size):
            return None
        target = self._url
        repo, desc = self._repo, self._desc

        def open_range(start: int, end: int) -> ResumableBlob:
            nonlocal target
            blob = ResumableBlob(repo, desc, start, end, target)
            target = blob.url  # a fresh redirect, if the old target had expired
            return blob

        return open_range

    def restart(self) -> ResumableBlob:
        """The whole blob once more, as one plain stream (no Range) from where it last came from: for a
        download whose ranges went wrong (see `ranged`).

        Raises:
            TransportError, RegistryError, NotFoundError, AuthenticationError: as `RegistryClient.send`.
        """
        return ResumableBlob(self._repo, self._desc, url=self._url)

    def queued(self) -> int | None:
        """Bytes that have arrived on this stream's socket and wait to be read; None when unknown. Near 0
        after a read means the connection, not this process, sets the pace."""
        sock = getattr(getattr(self._resp.raw, "_connection", None), "sock", None) if self._resp else None
        try:
            return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]) \
                if sock is not None else None
        except (OSError, ValueError):
            return None

    def _get(self) -> Response:
        headers = None
        if self._ranged or self._offset:
            last = "" if self._end == self._desc.size and not self._ranged else str(self._end - 1)
            headers = {"Range": f"bytes={self._offset}-{last}"}
        if self._repo.client.cancelled:  # the transfer is being abandoned: ask for nothing more
            raise TransportError(f"download of {self._desc.digest} cancelled")
        what = f"blob {self._desc.digest} in {self._repo.name}"
        # A small blob is read whole by the curl engine (one byte more than declared is enough to tell).
        whole = self._desc.size + 1 if headers is None and self._desc.size <= SMALL_BODY else None

        # A 416 to a Range is the server's word that it does not serve that range: `_check_range` says so
        # (RangesIgnored: a resumed download then starts over), where an error would fail every later pull.
        ok = (200, 206, 416) if headers is not None else (200, 206)

        spent, self._spent = self._spent, 0.0  # a resumed read is a request of its own

        def send() -> Response:
            return self._repo.client.send("GET", self._url, headers=headers, stream=True, transfer=True,
                                          scope=self._scope, what=what, buffer=whole, ok=ok, spent=spent)

        try:
            resp = send()
        except (AuthenticationError, NotFoundError):
            if self._url == self._registry_url:
                raise
            # A redirect target (a presigned URL) may have expired: ask the registry for a fresh one.
            self._url = self._registry_url
            resp = send()
        self._url = resp.url or self._url
        if headers is not None:
            self._check_range(resp)
        elif resp.status_code == 206 and not self._answers_range(resp, 0, self._desc.size - 1):
            resp.close()  # a part, not the blob asked for: its bytes would be written as the blob's start
            raise RegistryError(f"{self._repo.client.host} answered a request for all of blob {self._desc.digest} "
                                "with a part of it (HTTP 206)")
        return resp

    def _check_length(self, resp: Response) -> None:
        """A whole blob of another length than its descriptor's is refused before a byte is written (read
        to its end, a shorter one would look like a cut connection, resumed in vain)."""
        length = resp.headers.get("Content-Length", "").strip()
        if resp.status_code == 200 and length.isascii() and length.isdigit() and int(length[:20]) != self._desc.size:
            resp.close()
            raise IntegrityError(f"{self._repo.client.host} sent blob {self._desc.digest} as {length[:20]} bytes, "
                                 f"not its declared size of {self._desc.size}", self._desc.digest)

    def _check_range(self, resp: Response) -> None:
        """A ranged request must get exactly the range asked for; anything else is closed unread."""
        want_last = self._end - 1
        if self._answers_range(resp, self._offset, want_last):
            return
        resp.close()
        if self._offset > self._start or not self._ranged:
            raise TransportError(f"download of {self._desc.digest} was cut and the registry cannot resume it")
        raise RangesIgnored(f"{self._repo.client.host} did not serve bytes {self._offset}-{want_last} of "
                            f"{self._desc.digest} (HTTP {resp.status_code})")

    def _answers_range(self, resp: Response, first: int, last: int) -> bool:
        """Whether `resp` is a 206 of exactly the bytes first..last of this blob."""
        match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
        return resp.status_code == 206 and match is not None and int(match.group(1)) == first \
            and int(match.group(2)) == last and match.group(3) in ("*", str(self._desc.size))

    def _open(self, resp: Response) -> Any:
        """The fastest way to read this response into a buffer: straight from http.client (one copy,
        from the socket into our buffer). Content-encoded blobs are refused: we ask for `identity`, and
        decoding would let a small body unpack without bound."""
        self._resp = resp
        self._watch = getattr(resp, "watch", None)
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            resp.close()
            raise RegistryError(f"{self._repo.client.host} sent blob {self._desc.digest} with Content-Encoding "
                                f"{encoding!r}; modelpack asked for the bytes as they are")
        self._check_length(resp)
        if resp.raw is None:  # read whole already
            return io.BytesIO(resp.content).readinto
        fp = getattr(resp.raw, "_fp", None)
        if fp is not None and hasattr(fp, "readinto"):
            return fp.readinto
        resp.raw.decode_content = False
        return resp.raw.readinto

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            if self._resp is None or (self._ranged and self._offset >= self._end):
                return 0
            if self._repo.client.cancelled:  # Ctrl-C, or a sibling transfer failed: stop now
                self.close()
                raise TransportError(f"download of {self._desc.digest} cancelled")
            # A range is never read past its end; the whole blob is read to the end of the response, so
            # one longer than its descriptor says is caught by the digest check ("larger than declared").
            view = memoryview(target)[:self._end - self._offset] if self._ranged else target
            try:
                n = self._reader(view)
            except Exception as exc:  # urllib3's errors for a cut stream vary by version
                if isinstance(exc, IntegrityError):
                    raise
                final = final_failure(self._repo.client.host, f"GET of blob {self._desc.digest}", exc, False)
                if final is not None:  # a trailer of thousands of lines: the same again if resumed
                    self.close()
                    raise final from None
                if self._watch is not None and self._watch.expired:
                    self.close()
                    raise TransportError(self._stalled(),
                                         advice=advice.longer_timeout(self._repo.client.options.timeout)) from None
                n = -1
                log.info("download of %s cut at %d bytes: %s", self._desc.digest, self._offset, type(exc).__name__)
            if n and n > 0:
                self._offset += n
                return n
            if n == 0 and self._offset >= self._end:
                return 0
            self._reopen()

    def _stalled(self) -> str:
        client, watch = self._repo.client, self._watch
        stall = watch.stall if watch is not None else client.options.stall
        return (f"registry {client.host} sent less than {(watch.min_bytes if watch else 0) // 1024} KiB of blob "
                f"{self._desc.digest} in {stall:g} s")

    def _reopen(self) -> None:
        if self._resp is not None:
            self._resp.close()
        self._resumes += 1
        if self._resumes > MAX_RESUMES:
            raise TransportError(f"download of {self._desc.digest} kept breaking at {self._offset} bytes")
        self._reader = self._open(self._get())

    def close(self) -> None:
        resp, self._resp = self._resp, None
        if resp is not None:
            fp = getattr(resp.raw, "_fp", None)
            if self._offset >= self._end and resp.raw is not None and fp is not None and fp.isclosed():
                resp.raw.release_conn()  # the body was read to its end: the connection serves the next range
            resp.close()
        super().close()
