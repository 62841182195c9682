"""urllib3's connection pools for what the curl engine does not carry (blob streams, uploads read from
files, token requests): each response reads its socket through the current thread's `Watch` (see `watch`)
and its headers under libcurl's limits (`response_headers`). Imported by `transport` on its first request,
so a command whose requests all go through the curl engine never imports urllib3 (see `wire_errors`)."""

from __future__ import annotations

import io
import socket
import time
import urllib.parse
from typing import Any

import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from modelpack.ready import ready
from modelpack.store.response_headers import LimitedResponse
from modelpack.store.upload import Stopped
from modelpack.store.watch import CANCEL_POLL, Watch, current_watch

POOL_SIZE = 32  # kept-alive connections per host: transfer workers plus the ranges of large blobs


class _WatchedSocketIO(socket.SocketIO):
    def __init__(self, sock: socket.socket, watch: Watch) -> None:
        super().__init__(sock, "rb")
        sock._io_refs += 1  # type: ignore[attr-defined]  # as socket.makefile() does; close() gives it back
        self._watched = sock
        self._watch = watch

    def readinto(self, buffer: Any) -> int:
        cancelled = self._watch.cancelled
        while True:
            allowed = self._watch.next_timeout()
            wait = allowed if cancelled is None else min(allowed, CANCEL_POLL)
            notice = self._watch.until_quiet_notice()
            if notice is not None:
                wait = min(wait, max(notice, 0.01))
            self._watched.settimeout(wait)
            try:
                # recv_into itself: SocketIO refuses every read after its first timeout, and a poll's is none
                self._checkClosed()
                count = self._watched.recv_into(buffer)
                break
            except TimeoutError:
                if cancelled is not None and cancelled.is_set():
                    raise TimeoutError("transfer cancelled") from None
                self._watch.quiet()
                if wait < allowed:
                    continue  # only a poll (a cancel, the silence notice) ended: the watch's bound has not passed
                self._watch.timed_out()
                raise
        if count:
            self._watch.arrived(count)
        return count or 0


class WatchedResponse(LimitedResponse):
    """http.client's response, reading its socket through the current thread's watch (if any), its headers
    under libcurl's limits (`response_headers`)."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        watch = current_watch()
        if watch is not None:
            watch.begin()
            self.fp.close()  # nothing was read from it yet
            self.fp = io.BufferedReader(_WatchedSocketIO(sock, watch))
        self.watch = watch


class _StoppableSend:
    """A request's bytes sent so that an abandoned transfer (Ctrl-C) stops within CANCEL_POLL when the server
    has stopped reading them: `sendall` waited out the socket's timeout (the stall bound, 30 s) with its
    buffers full, and an interrupted push waited with it. Nothing is waited for longer than that timeout."""

    sock: socket.socket | None

    def send(self, data: Any) -> None:
        watch, sock = current_watch(), self.sock
        if watch is None or watch.cancelled is None or sock is None or \
                not isinstance(data, bytes | bytearray | memoryview):
            super().send(data)  # type: ignore[misc]
            return
        view = memoryview(data).cast("B")
        patience, since = sock.gettimeout(), time.monotonic()
        while view:
            if watch.cancelled.is_set():
                raise Stopped("the request was stopped")
            if not ready(write=[sock.fileno()], timeout=CANCEL_POLL):
                if patience is not None and time.monotonic() - since >= patience:
                    raise TimeoutError("timed out")  # as sendall says it
                continue
            view = view[sock.send(view):]
            since = time.monotonic()


class WatchedHTTPConnection(_StoppableSend, urllib3.connection.HTTPConnection):
    response_class = WatchedResponse


class WatchedHTTPSConnection(_StoppableSend, urllib3.connection.HTTPSConnection):
    response_class = WatchedResponse


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


def pool_manager(proxy: str | None, pool_kw: dict[str, Any]) -> urllib3.PoolManager:
    """Pools reaching every origin directly (`proxy` None), through an HTTP(S) proxy (its URL's user and
    password sent to it alone) or a SOCKS one.

    Args:
        proxy: the proxy's URL, or None.
        pool_kw: the TLS settings (`transport`'s).

    Raises:
        ImportError: a SOCKS proxy, and PySocks is not installed.
    """
    if pool_kw.get("cert_reqs") == "CERT_NONE":
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # asked for: said once, not per request
    if proxy is not None and proxy.lower().startswith("socks"):
        from modelpack.store.socks_pools import socks_manager

        return socks_manager(proxy, num_pools=16, maxsize=POOL_SIZE, **pool_kw)
    if proxy is None:
        manager = urllib3.PoolManager(num_pools=16, maxsize=POOL_SIZE, **pool_kw)
    else:
        parts = urllib.parse.urlsplit(proxy)
        headers = {}
        if parts.username:
            auth = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            headers = urllib3.make_headers(proxy_basic_auth=auth)
        manager = urllib3.ProxyManager(proxy, num_pools=16, maxsize=POOL_SIZE, proxy_headers=headers, **pool_kw)
    manager.pool_classes_by_scheme = _POOLS
    return manager


def open_response(manager: urllib3.PoolManager, method: str, url: str, headers: dict[str, str], body: Any,
                  timeout: tuple[float, float]) -> urllib3.BaseHTTPResponse:
    """Send one request on `manager`; return once the response's headers are in, its body left unread."""
    return manager.urlopen(method, url, body=body, headers=headers, redirect=False, retries=False,
                           preload_content=False, decode_content=False, assert_same_host=False,
                           timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]))
