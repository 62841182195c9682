"""Small HTTP exchanges driven by libcurl's multi interface, all on one thread.

A model of 2,000 small files is ~4,000 requests. Sent through urllib3 and http.client from the transfer
workers, each costs ~0.3 ms of Python CPU and the workers fight over the GIL: 2.6-3.1 s of CPU for a
2,000 x 32 KiB push, where the registry on the same two cores needs ~5 s. The same POSTs and PUTs driven
by one `CurlMulti` cost ~0.6 s in all (an experiment pushing that model with pycurl alone took 3.2-3.7 s
against 4.6-6.3 s for the oras CLI in the same run). So exchanges whose bodies are small both ways (HEADs,
upload sessions, small blobs up and down, manifests, tag lists) go through this engine: the calling worker
hands one over and waits; libcurl does the socket work and parses the response outside the GIL.

What stays `client.send()`'s: redirects (each hop is one exchange here), credentials, retries and the
meaning of a body's size. The engine performs exactly one exchange and returns its status, headers and
body, holding at most `cap` bytes of the body. It never reads proxies or certificates from anywhere but its
arguments, and never follows a redirect itself. Large transfers stay on urllib3's streams (`transport`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import pycurl

from modelpack.store.curl_events import CurlEvents
from modelpack.store.headers import Headers
from modelpack.store.options import trusted_certificates
from modelpack.threads import result_of, worker_thread

log = logging.getLogger("modelpack.registry")

IDLE_EXIT = 30.0  # seconds without work before the engine's thread ends (a new request starts it again)
MAX_HEADERS = 1000  # header lines kept per response; libcurl caps their total size itself
_TLS_ERRORS = frozenset({35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98})
# What our messages (see `messages`) recognise, for the errors that are not about TLS.
_WORDS = {pycurl.E_COULDNT_CONNECT: "connection refused or unreachable",
          pycurl.E_COULDNT_RESOLVE_HOST: "failed to resolve host", pycurl.E_COULDNT_RESOLVE_PROXY:
          "failed to resolve proxy", pycurl.E_OPERATION_TIMEDOUT: "timed out", pycurl.E_GOT_NOTHING:
          "connection reset: empty reply", pycurl.E_RECV_ERROR: "connection reset while receiving",
          pycurl.E_SEND_ERROR: "connection reset while sending", pycurl.E_PARTIAL_FILE: "connection aborted mid-body"}


class CurlFailure(OSError):
    """An exchange that failed on the wire; `code` is libcurl's error number."""

    def __init__(self, code: int, message: str) -> None:
        words = _WORDS.get(code)
        super().__init__(f"{words} ({message})" if words else message)
        self.code = code

    @property
    def timed_out(self) -> bool:
        return self.code == pycurl.E_OPERATION_TIMEDOUT

    @property
    def connect_timed_out(self) -> bool:
        """No connection within the connect timeout (libcurl's words for it: the host never answered)."""
        text = str(self).lower()
        return self.timed_out and ("connection timed out after" in text or "failed to connect" in text)

    @property
    def tls(self) -> bool:
        return self.code in _TLS_ERRORS


class UnusableRequest(ValueError):
    """A request libcurl cannot send as asked: a URL (or header) that is not ASCII, from a registry's
    tag list, `Link` or `Location`."""

    def __init__(self, url: str) -> None:
        super().__init__(f"cannot request {url.encode('ascii', 'backslashreplace').decode()[:200]}: not a valid URL")


@dataclass
class Answer:
    """A response read whole: `overflow` says the body went past the cap (`body` holds the first `cap` bytes).

    Its header lines are parsed when first asked for: most answers of a push (a blob's PUT) are
    judged by their status alone."""

    status: int
    header_lines: list[bytes]
    body: bytes
    overflow: bool

    @functools.cached_property
    def headers(self) -> Headers:
        return parse_headers(self.header_lines)

    def header(self, name: str, default: str = "") -> str:
        """One header's value, as `headers` would give it, without parsing the others: a quick transfer
        of a small blob looks at one header of its answer."""
        if "headers" in self.__dict__:
            return self.headers.get(name, default)
        return parse_headers(self.header_lines, only=name).get(name, default)


@dataclass
class Exchange:
    """One request and the bounds it is sent under.

    Args:
        cap: body bytes kept; more ends the exchange with `overflow` set.
        total: seconds the whole exchange may take (None: bounded by `stall` alone).
        stall: seconds in which at least `min_bytes` must move, else the exchange fails as timed out.
        proxy: the proxy URL, or "" for a direct connection.
    """

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    cap: int
    connect: float
    total: float | None
    stall: float
    min_bytes: int
    proxy: str
    future: Future[Answer] = field(default_factory=Future)
    # Header lines as libcurl hands them over (appended from C, no Python call per line); parsed once.
    header_lines: list[bytes] = field(default_factory=list)
    _parts: list[bytes] = field(default_factory=list)
    _size: int = 0
    _overflow: bool = False
    abandoned: bool = False  # the caller stopped waiting (CurlEngine.abandon)
    began: float = 0.0  # time.monotonic() when handed to the engine (what a hand-back has spent on it)

    def write(self, data: bytes) -> int | None:
        room = self.cap - self._size
        if len(data) > room:
            self._parts.append(data[:room])
            self._size, self._overflow = self.cap, True
            return 0  # libcurl stops the transfer (a write error, read as overflow below)
        self._parts.append(data)
        self._size += len(data)
        return None


class CurlEngine:
    """A thread running one `CurlMulti`: connections are kept and reused across exchanges.

    Args:
        verify: True for the system's CA bundle (else certifi's), a CA file or folder path, or False for
            no certificate checks.
    """

    def __init__(self, verify: bool | str = True) -> None:
        self._verify = verify
        self._lock = threading.Lock()
        self._queue: deque[Exchange] = deque()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._wake_read, self._wake_write = self._pipe()

    @staticmethod
    def _pipe() -> tuple[int, int]:
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        return read, write

    def close(self) -> None:
        """End the engine's thread once the exchanges under way (or queued) are answered, closing its
        connections and its wake-up pipe (an engine used again after this starts afresh)."""
        with self._lock:
            self._closing = True
            thread = self._thread
            self._wake()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._lock:
            # Not if another thread's request started the engine again meanwhile: it polls this pipe.
            if self._thread is None and self._wake_read >= 0:
                os.close(self._wake_read)
                os.close(self._wake_write)
                self._wake_read = self._wake_write = -1

    def _wake(self) -> None:
        """Interrupt the engine's wait (called holding the lock, so the pipe is never closed meanwhile)."""
        if self._wake_write < 0:  # closed already, and no thread to wake: closing again does nothing
            return
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"x")

    def exchange(self, request: Exchange) -> Answer:
        """Perform one exchange and wait for its answer.

        Raises:
            CurlFailure: the exchange failed on the wire (refused, cut, timed out, TLS).
        """
        answer = self.start(request)
        try:
            return result_of(answer)
        except BaseException:  # Ctrl-C: the exchange must not go on (nor be retried) behind our back
            self.abandon(request)
            raise

    def abandon(self, request: Exchange) -> None:
        """Drop an exchange nobody waits for: its connection is closed, so libcurl neither finishes it
        later nor sends it again (what was already sent may still have reached the server)."""
        with self._lock:
            request.abandoned = True
            self._wake()

    def start(self, request: Exchange) -> Future[Answer]:
        """Begin one exchange; its future is completed on the engine's thread (so are callbacks added to
        it: keep them short, they hold up every other exchange)."""
        request.began = time.monotonic()
        with self._lock:
            self._queue.append(request)
            if self._thread is None:
                if self._wake_read < 0:  # closed, and now used again
                    self._wake_read, self._wake_write = self._pipe()
                self._closing = False
                self._thread = worker_thread(self._run, name="modelpack-curl", daemon=True)
                self._thread.start()
            self._wake()
        return request.future

    def _run(self) -> None:
        multi = pycurl.CurlMulti()
        active: dict[pycurl.Curl, Exchange] = {}
        idle_since = time.monotonic()
        events = CurlEvents(multi, self._wake_read)
        new: list[Exchange] = []
        try:
            while True:
                with self._lock:
                    if self._closing:  # take nothing new: a caller busy with these options must not hold
                        new = []       # close() up; what came since is left to a thread of its own
                        if not active:
                            self._thread = None
                            if self._queue:
                                self._closing = False
                                self._thread = worker_thread(self._run, name="modelpack-curl", daemon=True)
                                self._thread.start()
                            return
                    elif not active and not self._queue and time.monotonic() - idle_since > IDLE_EXIT:
                        self._thread = None
                        return
                    else:
                        new, self._queue = list(self._queue), deque()
                self._drop_abandoned(multi, active)
                for request in new:
                    if request.abandoned:
                        request.future.set_exception(CurlFailure(-1, "abandoned"))
                        continue
                    try:
                        handle = self._handle(request)
                    except pycurl.error as exc:
                        request.future.set_exception(CurlFailure(exc.args[0], str(exc.args[-1])))
                        continue
                    except (UnicodeError, ValueError, TypeError):  # a URL or header libcurl cannot take
                        request.future.set_exception(UnusableRequest(request.url))
                        continue
                    multi.add_handle(handle)
                    active[handle] = request
                events.run_due()  # (a handle just added sets the timer to fire at once)
                self._collect(multi, active)
                if new or active:
                    idle_since = time.monotonic()
                events.wait(bool(active))
        except BaseException as exc:  # never leave a caller waiting on an engine that died
            # Logged (before a caller hears of it), not raised: a thread's uncaught exception is printed on
            # the library caller's stderr.
            log.error("transfer engine failed", exc_info=True)
            with self._lock:
                self._thread = None
                pending, self._queue = [*active.values(), *new, *self._queue], deque()
            for request in pending:
                if not request.future.done():
                    request.future.set_exception(CurlFailure(-1, f"transfer engine failed: {type(exc).__name__}"))
        finally:
            for handle in list(active):
                multi.remove_handle(handle)
                handle.close()
            multi.close()

    @staticmethod
    def _drop_abandoned(multi: pycurl.CurlMulti, active: dict[pycurl.Curl, Exchange]) -> None:
        for handle in [h for h, request in active.items() if request.abandoned]:
            request = active.pop(handle)
            multi.remove_handle(handle)
            handle.close()
            request.future.set_exception(CurlFailure(-1, "abandoned"))

    @staticmethod
    def _collect(multi: pycurl.CurlMulti, active: dict[pycurl.Curl, Exchange]) -> None:
        while True:
            queued, done, failed = multi.info_read()
            for handle, code, message in [(h, 0, "") for h in done] + list(failed):
                request = active.pop(handle)
                multi.remove_handle(handle)
                status = int(handle.getinfo(pycurl.RESPONSE_CODE) or 0)
                handle.close()
                if code and not (request._overflow and status):
                    request.future.set_exception(CurlFailure(code, message))
                else:
                    body, request._parts = b"".join(request._parts), []  # the pieces are not kept as well
                    request.future.set_result(Answer(status, request.header_lines, body, request._overflow))
            if not queued:
                return

    def _handle(self, request: Exchange) -> pycurl.Curl:
        handle = pycurl.Curl()
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)  # never file://, gopher://, ...
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        handle.setopt(pycurl.PROXY, request.proxy)  # "": none, and libcurl reads no environment variable
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(request.connect * 1000)))
        if request.total is not None:
            handle.setopt(pycurl.TIMEOUT_MS, max(1, int(request.total * 1000)))
        handle.setopt(pycurl.LOW_SPEED_TIME, max(1, math.ceil(request.stall)))
        handle.setopt(pycurl.LOW_SPEED_LIMIT, max(1, math.ceil(request.min_bytes / max(request.stall, 1.0))))
        self._tls(handle)
        lines = [f"{name}: {value}" for name, value in request.headers.items()]
        given = {name.lower() for name in request.headers}
        lines += ["Expect:"] + ([] if "content-type" in given else ["Content-Type:"])
        handle.setopt(pycurl.HTTPHEADER, lines)
        if request.method == "HEAD":
            handle.setopt(pycurl.NOBODY, 1)
        elif request.method == "GET" and request.body is None:
            handle.setopt(pycurl.HTTPGET, 1)
        else:
            handle.setopt(pycurl.CUSTOMREQUEST, request.method)
            if request.body is not None or request.method in ("POST", "PUT", "PATCH"):
                handle.setopt(pycurl.POSTFIELDSIZE, len(request.body or b""))
                handle.setopt(pycurl.POSTFIELDS, request.body or b"")
        handle.setopt(pycurl.HEADERFUNCTION, request.header_lines.append)
        handle.setopt(pycurl.WRITEFUNCTION, request.write)
        return handle

    @functools.cached_property
    def _trust(self) -> tuple[str | None, str | None] | None:
        # Once per engine, not per exchange: finding the bundle looks at the file system (a stat or more).
        return trusted_certificates(self._verify)

    def _tls(self, handle: pycurl.Curl) -> None:
        trust = self._trust
        if trust is None:
            handle.setopt(pycurl.SSL_VERIFYPEER, 0)
            handle.setopt(pycurl.SSL_VERIFYHOST, 0)
            return
        file, folder = trust
        if folder:
            handle.setopt(pycurl.CAPATH, folder)
            handle.unsetopt(pycurl.CAINFO)  # that folder alone, not libcurl's built-in bundle too
        else:
            handle.setopt(pycurl.CAINFO, file)
            handle.unsetopt(pycurl.CAPATH)


def parse_headers(lines: list[bytes], only: str | None = None) -> Headers:
    """The last response's headers (earlier ones: 100 Continue, a proxy's CONNECT answer), at most
    MAX_HEADERS of them; lines that are not `name: value` are left out. With `only`, just that header."""
    start = max((i + 1 for i, line in enumerate(lines) if line.startswith(b"HTTP/")), default=0)
    headers = Headers()
    wanted = only.lower().encode("ascii") + b":" if only else b""
    for line in lines[start:start + MAX_HEADERS]:
        if wanted and line[:len(wanted)].lower() != wanted:
            continue
        name, sep, value = line.decode("iso-8859-1").partition(":")
        if sep and name and name == name.strip():
            headers.add(name, value.strip())
    return headers


def outcome(done: Future[Answer]) -> str:
    """A finished exchange's status, or the name of what ended it (for `-v`'s log)."""
    exc = done.exception()
    return str(done.result().status) if exc is None else type(exc).__name__
