"""`modelpack serve`'s stop when requests in flight do not finish: bounded by --request-timeout, or cut
short by a second stop signal, each said in one line of serve's own (no uvicorn wording, no traceback)."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from test_serve_lifecycle import BODY, start, wait_until_refused
from test_serve_lifecycle import processes as processes
from test_serve_lifecycle import pushed as pushed
from test_serve_lifecycle import scratch as scratch

HEAD = (f"POST /v2/models/linear/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n").encode()


def trickle(conn: socket.socket, done: threading.Event) -> None:
    """A slow client: its body's bytes one at a time, then bytes past it, until `done` or cut off."""
    for byte in BODY + b" " * 10_000:
        if done.wait(0.2):
            return
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            return


def lines(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stderr is not None
    return proc.stderr.read().splitlines()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_stop_waits_request_timeout_then_says_what_it_closed(
        pushed: str, scratch: Path, processes: list[subprocess.Popen[str]], workers: str) -> None:
    proc, port = start(scratch, pushed, "--plain-http", "--request-timeout", "2", "--workers", workers)
    processes.append(proc)
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn.sendall(HEAD)
    done = threading.Event()
    sender = threading.Thread(target=trickle, args=(conn, done))
    sender.start()
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        done.set()
        sender.join()
        conn.close()
    said = lines(proc)
    assert said[-3:] == ["SIGTERM received: finishing the requests in flight, then stopping",
                         "requests in flight not done after 2 s (--request-timeout), closing 1 connection",
                         "stopped"], said


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_second_stop_signal_stops_at_once_in_one_line(
        pushed: str, scratch: Path, processes: list[subprocess.Popen[str]], stop: signal.Signals,
        workers: str) -> None:
    proc, port = start(scratch, pushed, "--plain-http", "--request-timeout", "600", "--workers", workers)
    processes.append(proc)
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn.sendall(HEAD + BODY[:10])  # in flight, and its client sends no more
    proc.send_signal(stop)
    wait_until_refused(port)  # the first signal has been taken
    proc.send_signal(stop)
    try:
        assert proc.wait(timeout=60) == 0  # not the 600 s the request in flight could still have
    finally:
        conn.close()
    said = lines(proc)
    assert f"{stop.name} received: finishing the requests in flight, then stopping" in said, said
    again = [line for line in said if " received again: " in line]
    expected = f"{stop.name} received again: stopping now" + (", closing 1 connection" if workers == "1" else "")
    assert again == [expected], said
    assert said[-1] == "stopped" and not any("Traceback" in line or "ASGI" in line for line in said), said
