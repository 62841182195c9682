"""What a client holds of the inference server's limits: a request whose body has not arrived holds no
slot of --max-connections and no byte of the body budget beyond what it sent, so clients that send
headers and then nothing cannot starve the others; requests being handled and bytes received still
are bounded; a response nobody reads is dropped at the deadline, with the memory it holds."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from modelpack.serve import oip_rest
from modelpack.serve.limits import ServerLimits
from serve_models import iris_skops
from serving import call, established

ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def iris(tmp_path: Path) -> Path:
    return iris_skops(tmp_path / "iris")[0]


def body(**extra: Any) -> bytes:
    return json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}], **extra}).encode()


@contextmanager
def silent_clients(base: str, count: int, declared: int, sent: bytes = b"") -> Iterator[list[socket.socket]]:
    """`count` connections that send an inference request's headers declaring `declared` bytes, then
    `sent` of them, then nothing."""
    host, port = base.removeprefix("http://").split(":")
    with ExitStack() as stack:
        conns = []
        for _ in range(count):
            conn = stack.enter_context(socket.create_connection((host, int(port)), timeout=30))
            conn.sendall(b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(declared).encode() + b"\r\n\r\n" + sent)
            conns.append(conn)
        yield conns


def test_clients_that_declare_a_body_and_send_nothing_starve_nobody(serving: Any, iris: Path) -> None:
    # Each used to take a slot and its declared length of the budget until its deadline (30 s): three such
    # connections, a few hundred bytes in all, made every other inference a 503 or a 30 s wait.
    limits = ServerLimits(max_connections=2, max_request_bytes=1024 * 1024)
    base = serving(iris, limits=limits)
    with silent_clients(base, 3, limits.max_request_bytes) as silent:
        for _ in range(20):  # some after the silent headers have reached the server, whatever the order
            status, answer = call(f"{base}/v2/models/iris/infer", body())
            assert status == 200, answer
        assert not select.select(silent, [], [], 0)[0]  # still waiting: not cut off to make room


def test_requests_being_handled_are_bounded_by_max_connections(serving: Any, iris: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    inside, leave = threading.Event(), threading.Event()
    infer = oip_rest._infer

    def held(model: Any, data: bytes, header_length: str | None) -> Any:
        if b'"id": "hold' in data:
            inside.set()
            leave.wait(30)
        return infer(model, data, header_length)

    monkeypatch.setattr(oip_rest, "_infer", held)
    base = serving(iris, limits=ServerLimits(max_connections=1))
    holder: list[tuple[int, dict[str, Any]]] = []
    # Over 64 KiB, so it runs on a worker thread and the server goes on answering.
    thread = threading.Thread(target=lambda: holder.append(call(f"{base}/v2/models/iris/infer",
                                                                body(id="hold" + "x" * 70_000))))
    thread.start()
    try:
        assert inside.wait(30)
        status, answer = call(f"{base}/v2/models/iris/infer", body())
        assert status == 503 and "too many requests" in answer["error"]
        assert call(f"{base}/v2/health/ready") == (200, {"ready": True})  # probes still answer
    finally:
        leave.set()
        thread.join(30)
    assert holder[0][0] == 200 and holder[0][1]["id"].startswith("hold")
    assert call(f"{base}/v2/models/iris/infer", body())[0] == 200  # the slot was given back


def test_bytes_received_are_bounded_by_the_body_budget(serving: Any, iris: Path) -> None:
    cap = 16 * 1024 * 1024
    base = serving(iris, limits=ServerLimits(max_request_bytes=cap, max_inflight_bytes=cap))
    for settle in (0.1, 0.5, 1, 2, 4, 8):
        with silent_clients(base, 1, cap, b" " * (cap - 10)) as [silent]:
            # Its bytes must have reached the application first: a request whose bytes race them takes the
            # budget, and the silent client is the one refused (seen under coverage on a loaded machine).
            time.sleep(settle)
            # 12 MiB, more than the sockets' buffers: the server reads what it refuses, so a client still
            # sending reads the 503 (closing on unread bytes would reset the connection under it).
            status, answer = call(f"{base}/v2/models/iris/infer", body(id="p" * 12 * 1024 * 1024))
            if status == 503 and not select.select([silent], [], [], 0)[0]:  # and the silent one still waits
                break
    assert status == 503 and "memory budget" in answer["error"], answer
    for _ in range(100):  # the bytes are given back when that client hangs up
        if call(f"{base}/v2/models/iris/infer", body())[0] == 200:
            break
    else:
        pytest.fail("the budget was not given back when the client hung up")


def test_a_response_nobody_reads_is_dropped_at_the_deadline(serving: Any, iris: Path) -> None:
    # It stayed in the server's memory as long as the client kept the connection open: 20 such clients
    # held 160 MB until they left, however long that was.
    base = serving(iris, limits=ServerLimits(request_timeout=1))
    port = int(base.rsplit(":", 1)[1])
    rows = json.dumps({"inputs": [{"name": "x", "shape": [200_000, 4], "datatype": "FP64",
                                   "data": ROW * 200_000}]}).encode()  # a 13 MB response
    with socket.socket() as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.connect(("127.0.0.1", port))
        conn.sendall(b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                     + str(len(rows)).encode() + b"\r\n\r\n" + rows)
        assert conn.recv(12) == b"HTTP/1.1 200"  # answered, and then not read
        for _ in range(600):
            if not established(port):
                break
            time.sleep(0.1)
        assert not established(port), "the server still holds the unread response"
