"""A SOCKS5 proxy for tests (no authentication, CONNECT only, RFC 1928), recording where it connected;
`trickle_after` bytes into each answer it forwards 1 KiB every 0.3 s from then on (a link that keeps a
connection alive while delivering almost nothing)."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
import time
from typing import Any


class SocksProxy:
    def __init__(self, trickle_after: int | None = None) -> None:
        self.trickle_after = trickle_after
        self.connects: list[tuple[str, int]] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"socks5h://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SocksProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _serve(self, client: socket.socket) -> None:
        _, methods = _exactly(client, 2)
        _exactly(client, methods)
        client.sendall(b"\x05\x00")
        _, command, _, kind = _exactly(client, 4)
        if kind == 1:
            host = socket.inet_ntoa(_exactly(client, 4))
        elif kind == 3:
            host = _exactly(client, _exactly(client, 1)[0]).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, _exactly(client, 16))
        port = struct.unpack(">H", _exactly(client, 2))[0]
        if command != 1:
            client.sendall(b"\x05\x07\x00\x01" + bytes(6))
            return
        upstream = socket.create_connection((host, port), timeout=30)
        self.connects.append((host, port))
        client.sendall(b"\x05\x00\x00\x01" + bytes(6))
        threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
        self._pipe(upstream, client, self.trickle_after)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, trickle_after: int | None) -> None:
        sent = 0
        try:
            while True:
                slow = trickle_after is not None and sent >= trickle_after
                data = source.recv(1024 if slow else 65536)
                if not data:
                    break
                sink.sendall(data)
                sent += len(data)
                if slow:
                    time.sleep(0.3)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("SOCKS client left")
        data += chunk
    return data
