"""The benchmarks' delay line (`benchmarks/capping_proxy.py --delay-ms`), which the latency rows of
`make bench` measure both tools through: bytes arrive intact and in order in both directions, never sooner
than the configured delay, and the proxy exits by itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import capping_proxy

from background_server import tcp_server

DELAY_MS = 100


@contextmanager
def echo_server() -> Iterator[tuple[str, list[float]]]:
    """A TCP server sending back whatever a connection sends it; yields its address and, once the
    first bytes arrived, when they did."""
    first: list[float] = []

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                first.append(first[0] if first else time.monotonic())
                conn.sendall(data)

    with tcp_server(echo) as address:
        yield address, first


def connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=30)


def receive(sock: socket.socket, size: int) -> bytes:
    got = bytearray()
    while len(got) < size and (data := sock.recv(size - len(got))):
        got += data
    return bytes(got)


def test_bytes_go_both_ways_intact_and_in_order_past_what_the_line_holds() -> None:
    payload = os.urandom(3 * capping_proxy.HOLD)  # more than one direction holds: its flow control runs
    with echo_server() as (upstream, _), capping_proxy.running(upstream, 0, DELAY_MS) as address, \
            connect(address) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        echoed = receive(sock, len(payload))
        sender.join()
    assert len(echoed) == len(payload)
    assert echoed == payload


def test_a_round_trip_takes_at_least_the_delay_and_a_new_connection_one_more() -> None:
    with echo_server() as (upstream, first), capping_proxy.running(upstream, 0, DELAY_MS) as address:
        connected = time.monotonic()
        with connect(address) as sock:
            sock.sendall(b"a")  # sent at once, as a client does after connecting
            assert receive(sock, 1) == b"a"
            # SYN, SYN-ACK, then the bytes: they reach the server 1.5 round trips after the connect.
            assert first[0] - connected >= 1.5 * DELAY_MS / 1000
            times = []
            for byte in (b"b", b"c", b"d"):
                start = time.monotonic()
                sock.sendall(byte)
                assert receive(sock, 1) == byte
                times.append(time.monotonic() - start)
    assert min(times) >= DELAY_MS / 1000


def test_it_exits_by_itself_once_idle() -> None:
    proxy = subprocess.Popen([sys.executable, capping_proxy.__file__, "127.0.0.1:9", "--delay-ms", "10",
                              "--idle", "1"], stdout=subprocess.PIPE, text=True)
    try:
        assert proxy.stdout is not None and proxy.stdout.readline().strip().isdigit()  # it was listening
        assert proxy.wait(timeout=30) == 0
    finally:
        if proxy.poll() is None:
            proxy.kill()
            proxy.wait()
