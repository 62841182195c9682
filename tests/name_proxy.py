"""A forward HTTP proxy (what HTTP_PROXY names) that sends every host name to 127.0.0.1, keeping the
port, and records which host each request was for. With it, two clients can be pointed at
`origin.example.com:PORT`, `cache.dc1.example.com:PORT`, ... — names no resolver here knows — and be
compared on which of those hosts they asked. A name without a port goes to the port `routes` gives it.
Go (skopeo) never proxies loopback addresses, so hosts written as 127.0.0.1 are not seen here; tests
name every host they count. CONNECT (HTTPS) is tunnelled to the port, where a registry speaking plain
HTTP fails the TLS handshake as it would without a proxy (an `insecure` client then falls back)."""

from __future__ import annotations

import http.client
import select
import socket
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from background_server import BackgroundServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization"}


class NameProxy(BackgroundServer):
    def __init__(self, routes: dict[str, int] | None = None) -> None:
        self.routes = dict(routes or {})  # name -> port, for names written without one
        self.log: list[tuple[str, str, str, int]] = []  # (host[:port], method, path, status)
        self._lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def clear(self) -> None:
        with self._lock:
            self.log.clear()

    def hosts(self, contains: str = "") -> list[str]:
        """The hosts asked for a path containing `contains`, each once, in the order first asked."""
        with self._lock:
            seen = [host for host, _, path, _ in self.log if contains in path]
        return list(dict.fromkeys(seen))

    def target_port(self, netloc: str) -> int:
        name, _, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "")
        return int(port) if port else self.routes.get(name, 80)

    def _record(self, host: str, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((host, method, path, status))

    def _handler(self) -> Callable[..., BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_CONNECT(self) -> None:
                proxy._record(self.path, "CONNECT", "", 200)
                self.close_connection = True
                try:
                    upstream = socket.create_connection(("127.0.0.1", proxy.target_port(self.path)), timeout=10)
                except OSError:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.end_headers()
                with upstream:
                    _pipe(self.connection, upstream)

            def _forward(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                host, port = url.netloc, proxy.target_port(url.netloc)
                path = url.path + (f"?{url.query}" if url.query else "")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    upstream.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
                    for key, value in self.headers.items():  # each of several Accept headers kept
                        if key.lower() not in HOP_BY_HOP:
                            upstream.putheader(key, value)
                    upstream.endheaders(body or None)
                    resp = upstream.getresponse()
                except OSError:
                    proxy._record(host, self.command, path, 502)  # nothing listens there
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                proxy._record(host, self.command, path, resp.status)
                data = resp.read() if self.command != "HEAD" else b""
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", resp.getheader("Content-Length") or str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

        return Handler


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes (10 s of silence ends it too)."""
    while True:
        ready, _, _ = select.select([a, b], [], [], 10)
        if not ready:
            return
        for sock in ready:
            try:
                data = sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            (b if sock is a else a).sendall(data)
