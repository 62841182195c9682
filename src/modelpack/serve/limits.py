"""A bounded HTTP server for `serve`: a fixed pool of connection threads, a deadline for receiving each
request, a cap on body size and on the bytes being parsed at once.

The standard library's ThreadingHTTPServer starts a thread per connection and waits forever for a
request, so half-sent requests pile up threads and a large body is parsed however many arrive. Here:
- at most `max_connections` connections are handled at once; one more gets a 503 and is closed;
- each request's headers and body must arrive within `request_timeout` seconds in total (a client that
  drips a byte at a time is cut off too), and every socket read or write times out after as long;
- a body over `max_request_bytes` gets a 413 before any of it is read;
- bodies read and parsed at once total at most `max_inflight_bytes` (JSON parsing costs ~10-25 times
  the body size in Python objects); a request that cannot get its share in time gets a 503.
"""

from __future__ import annotations

import contextlib
import logging
import re
import selectors
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from modelpack.errors import UsageError

log = logging.getLogger("modelpack.serve")
_BUSY = b'{"error": "the server is busy: too many connections; retry later"}'


@dataclass(frozen=True)
class ServerLimits:
    """Limits of the inference server; the defaults suit one model on a small machine."""

    max_connections: int = 64
    request_timeout: float = 30.0
    max_request_bytes: int = 16 * 1024 * 1024
    max_inflight_bytes: int | None = None  # default: twice max_request_bytes

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.request_timeout <= 0 or self.max_request_bytes < 1:
            raise UsageError("server limits must be positive")

    @property
    def inflight_bytes(self) -> int:
        return max(self.max_inflight_bytes or 2 * self.max_request_bytes, self.max_request_bytes)


def parse_size(text: str) -> int:
    """Bytes from `16777216`, `16M`, `16MiB`, `512K` (binary units).

    Raises:
        UsageError: not a positive size.
    """
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match or int(match.group(1)) < 1:
        raise UsageError(f"{text!r}: expected a size such as 16M or 1048576")
    return int(match.group(1)) * 1024 ** " KMG".index(match.group(2).upper() or " ")


class ByteBudget:
    """Bytes that may be held by request bodies at once; callers wait for their share."""

    def __init__(self, total: int) -> None:
        self._free = total
        self._ready = threading.Condition()

    def reserve(self, size: int, timeout: float) -> bool:
        with self._ready:
            return self._ready.wait_for(lambda: self._free >= size, timeout) and self._take(size)

    def _take(self, size: int) -> bool:
        self._free -= size
        return True

    def release(self, size: int) -> None:
        with self._ready:
            self._free += size
            self._ready.notify_all()


class BoundedHTTPServer(HTTPServer):
    """HTTPServer with a fixed thread pool and request deadlines (see the module docstring)."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 limits: ServerLimits) -> None:
        self.limits = limits
        self.budget = ByteBudget(limits.inflight_bytes)
        self.request_queue_size = max(128, limits.max_connections)  # listen backlog
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._pool = ThreadPoolExecutor(limits.max_connections, thread_name_prefix="modelpack-serve")
        self._deadlines: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._active = 0  # connections being handled
        self._idle = threading.Condition()
        try:
            super().__init__(address, handler)
        except OSError as exc:  # in use, not ours to bind, not an address of this machine
            self._pool.shutdown(wait=False)
            raise UsageError(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}; "
                             "choose another --port or --host") from None
        threading.Thread(target=self._reap, name="modelpack-serve-deadlines", daemon=True).start()
        self._linger = _Linger()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        self.watch(request)
        with self._idle:
            self._active += 1
        self._pool.submit(self._work, request, client_address)

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.done_reading(request)
            self.shutdown_request(request)
            self._slots.release()
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Stop accepting connections and wait up to `timeout` seconds for those being handled to finish
        (call after `shutdown()`); True when none is left."""
        self.socket.setblocking(False)
        while True:  # connections already in the listen backlog were sent before the stop: handle them
            try:
                request, client_address = self.get_request()
            except OSError:
                break
            self.process_request(request, client_address)
        self.socket.close()  # later clients are refused instead of waiting in the backlog
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def _refuse(self, request: socket.socket) -> None:
        """503 to a connection over the limit, without reading its request or starting a thread. The
        socket is then closed lingering (see `_Linger`): closing it with the client's request still
        arriving would reset the connection before the client reads the 503."""
        try:
            request.setblocking(False)
            with contextlib.suppress(OSError):
                request.recv(65536)
            request.settimeout(1)
            request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                            b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
                            + str(len(_BUSY)).encode() + b"\r\n\r\n" + _BUSY)
            request.shutdown(socket.SHUT_WR)
        except OSError:
            self.shutdown_request(request)
            return
        self._linger.add(request)

    def watch(self, connection: socket.socket) -> None:
        """Start the clock on receiving a request from `connection`."""
        with self._lock:
            self._deadlines[connection] = time.monotonic() + self.limits.request_timeout

    def done_reading(self, connection: socket.socket) -> None:
        """The request has arrived (or the connection is over): stop its clock."""
        with self._lock:
            self._deadlines.pop(connection, None)

    def _reap(self) -> None:
        # One thread for all deadlines: a socket shut down under a blocked read wakes it with EOF.
        while not self._closed.wait(0.5):
            now = time.monotonic()
            with self._lock:
                late = [conn for conn, deadline in self._deadlines.items() if deadline < now]
                for conn in late:
                    del self._deadlines[conn]
            for conn in late:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # One line, not the base class's traceback on stderr (a client that hung up is routine).
        error = sys.exc_info()[1]
        log.warning("request from %s failed: %s: %s", client_address[0], type(error).__name__, error)

    def server_close(self) -> None:
        self._closed.set()
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Linger:
    """Refused connections, read and discarded until the client closes (or for `seconds`), on one
    thread for all of them: a lingering close, so the client gets to read its 503. At most `limit` are
    held; beyond that a refused connection is closed at once."""

    def __init__(self, seconds: float = 2.0, limit: int = 256) -> None:
        self.seconds, self.limit = seconds, limit
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        threading.Thread(target=self._run, name="modelpack-serve-linger", daemon=True).start()

    def add(self, connection: socket.socket) -> None:
        with self._lock:
            if len(self._selector.get_map()) >= self.limit:
                connection.close()
                return
            connection.setblocking(False)
            self._selector.register(connection, selectors.EVENT_READ, time.monotonic() + self.seconds)
        self._wake.set()

    def _run(self) -> None:
        while True:
            with self._lock:
                watched = len(self._selector.get_map())
            if not watched:  # sleep until a refusal comes
                self._wake.wait()
                self._wake.clear()
                continue
            for key, _ in self._selector.select(timeout=0.05):
                self._read(key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            with self._lock:
                expired = [k.fileobj for k in self._selector.get_map().values() if k.data < now]
            for connection in expired:
                self._close(connection)  # type: ignore[arg-type]

    def _read(self, connection: socket.socket) -> None:
        try:
            if connection.recv(65536):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._close(connection)  # the client closed (or reset): done

    def _close(self, connection: socket.socket) -> None:
        with self._lock, contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection)
        connection.close()
