"""A host that answers in something other than HTTP (a port typed wrong: ssh, a database, a TLS port
asked in plain HTTP) is said to be that, at once, with the exit code of a host that is no registry (5):
not retried as a cut connection and reported as "cannot connect to HOST", which it had just done. Malformed
HTTP, and answers that would go on for ever (1xx responses, chunks, trailer lines), end alike in one line."""

from __future__ import annotations

import os
import socket
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from background_server import tcp_server
from helpers import Run, modelpack
from hostile_registry import HostileRegistry, model_content, serve_content, weights_digest

SSH_BANNER = b"SSH-2.0-OpenSSH_9.6\r\n"
STATUS_LINES = [SSH_BANNER, b"HTTP/1.1 abc\r\n\r\n", b"HTTP/9.9 200 OK\r\nContent-Length: 0\r\n\r\n",
                b"\x15\x03\x01\x00\x02\x02\x46"]  # the last: a TLS alert, as a TLS port answers plain HTTP


def ls_answered_with(answer: bytes, then: bytes = b"", times: int = 0) -> tuple[Run, list[int]]:
    """`ls` of a host that sends `answer` to every connection (then `then`, `times` times: an answer that
    would go on for ever, bounded so that a failing test ends), and one entry per connection it saw."""
    connections: list[int] = []

    def serve(connection: socket.socket) -> None:
        with connection:
            connections.append(1)
            connection.recv(65536)
            connection.sendall(answer)
            for _ in range(times):
                try:
                    connection.sendall(then)
                except OSError:  # the client hung up: what the test waits for
                    return

    with tcp_server(serve) as host:
        return modelpack("ls", "--plain-http", f"{host}/a/b"), connections


@pytest.mark.parametrize("answer", STATUS_LINES)
def test_a_port_that_does_not_speak_http_is_named_so_at_once(answer: bytes) -> None:
    listed, connections = ls_answered_with(answer)
    assert listed.code == 5, listed
    assert "not HTTP/1.x" in listed.err and "cannot connect" not in listed.err, listed.err
    assert "drop --plain-http" in listed.err and len(listed.err.splitlines()) == 1, listed.err
    assert len(connections) == 1  # not asked again: it would answer the same


@pytest.mark.parametrize("answer", [b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\n{}",
                                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"])
def test_malformed_http_is_the_registrys_fault_said_at_once(answer: bytes) -> None:
    listed, connections = ls_answered_with(answer)
    assert listed.code == 1, listed
    assert "malformed HTTP" in listed.err and "misbehaves" in listed.err, listed.err
    assert len(connections) == 1


def test_a_streamed_blob_answered_in_something_else_is_named_so(tmp_path: Path) -> None:
    content = model_content(os.urandom(3_000_000))  # streamed by urllib3, not read whole by the curl engine
    layer = weights_digest(content)

    def banner(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(SSH_BANNER)
        handler.close_connection = True

    with HostileRegistry() as registry:
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = banner
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)
        pulled = modelpack("pull", "--plain-http", f"{registry.host}/a/b:1", "-o", str(tmp_path / "out"))
        asked = registry.requests(f"GET /v2/a/b/blobs/{layer}")
    assert pulled.code == 5, pulled
    assert "not HTTP/1.x" in pulled.err and "'SSH-2.0-OpenSSH_9.6" in pulled.err, pulled.err
    assert len(asked) == 1, asked
    assert not (tmp_path / "out" / "w.bin").exists()


@pytest.mark.parametrize(("answer", "then", "said"), [
    (b"", b"HTTP/1.1 100 Continue\r\n\r\n" * 1000, "sent response headers over 300 KiB"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"4000\r\n" + b" " * 0x4000 + b"\r\n",
     "sent more than 4194304 bytes; refused"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n", b"X-Trailer: y\r\n" * 1000,
     "sent more than 5000 response headers"),
], ids=["1xx-loop", "endless-chunks", "endless-trailer"])
def test_an_answer_that_goes_on_for_ever_ends_in_one_line(answer: bytes, then: bytes, said: str) -> None:
    # The curl engine's bounds (libcurl's header limits, the body cap): confirmed, not retried.
    listed, connections = ls_answered_with(answer, then, times=20_000)
    assert listed.code == 1, listed
    assert said in listed.err and len(listed.err.splitlines()) == 1, listed.err
    assert len(connections) == 1
