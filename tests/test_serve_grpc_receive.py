"""gRPC messages are received a few at a time (`grpc_receive`): clients that trickle a message in cannot
keep a well-behaved client from its turn, and calls that end while their message arrives are counted for
what is known of them, never as the server's over-size refusal.

The hostile clients speak HTTP/2 by hand over a socket: no gRPC client sends part of a message."""

from __future__ import annotations

import logging
import re
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from test_serve_grpc import http2_frame, infer_headers, metrics_lines
from test_serve_memory import in_process, served  # noqa: F401 (a fixture)

grpc_client = pytest.importorskip("tritonclient.grpc")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + http2_frame(4, 0, 0, b"") + http2_frame(4, 1, 0, b"")


def begin_message(conn: socket.socket, declared: int, headers: bytes | None = None) -> None:
    """A ModelInfer call on stream 1 whose message says it has `declared` bytes, none of them sent yet."""
    conn.sendall(PREFACE + http2_frame(1, 4, 1, headers or infer_headers())
                 + http2_frame(0, 0, 1, b"\x00" + struct.pack(">I", declared)))


def _path(path: str) -> bytes:
    """A literal HPACK value: its length, then the path."""
    return bytes([len(path)]) + path.encode()


class Trickler(threading.Thread):
    """Sends its message a byte at a time, every 0.2 s, and reconnects to begin again whenever the server
    ends the call: a slowloris. `statuses` holds (grpc-status, grpc-message) of every call ended."""

    def __init__(self, port: int, stop: threading.Event, method: str = "ModelInfer") -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.headers = infer_headers().replace(b"\x2a/inference.GRPCInferenceService/ModelInfer",
                                               _path(f"/inference.GRPCInferenceService/{method}"))
        self.statuses: list[tuple[int, str]] = []
        self.connected = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
                begin_message(conn, 1000, self.headers)
                self.connected.set()
                conn.settimeout(0.2)
                received = b""
                while not self.stop.is_set():
                    conn.sendall(http2_frame(0, 0, 1, b"\x0a"))
                    try:
                        chunk = conn.recv(65536)
                    except TimeoutError:
                        continue
                    received += chunk
                    # The server's first answer on a connection: literal header fields, no Huffman.
                    ended = re.search(rb"grpc-status\x01(\d).{2}grpc-message(.)", received, re.DOTALL)
                    if ended:
                        start = ended.end()
                        self.statuses.append((int(ended.group(1)),
                                              received[start:start + ended.group(2)[0]].decode(errors="replace")))
                        break
                    if not chunk:
                        break


def infer(client: object) -> list[int]:
    tensor = grpc_client.InferInput("x", [1, 4], "FP64")
    tensor.set_data_from_numpy(np.array([[5.1, 3.5, 1.4, 0.2]]))
    # The timeout only bounds the test: a turn held for --request-timeout (60 s) would pass it.
    return client.infer("iris", [tensor], client_timeout=30).as_numpy("predict").tolist()  # type: ignore[attr-defined]


def test_tricklers_cannot_keep_a_client_from_its_turn(tmp_path: Path) -> None:
    # Two clients trickling their messages held both turns for --request-timeout, and took them again
    # as they reconnected: every other call waited that long, or was refused as busy.
    stop = threading.Event()
    with in_process(tmp_path, request_timeout=60, max_request_bytes=100_000) as server:
        tricklers = [Trickler(server.grpc_port, stop) for _ in range(3)]
        try:
            for trickler in tricklers:
                trickler.start()
            assert all(trickler.connected.wait(30) for trickler in tricklers)
            client = grpc_client.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
            assert [infer(client) for _ in range(3)] == [[0]] * 3
            # They were trickling all along, and each was cut off (a bound for the test, not an assertion).
            waited = threading.Event()
            for _ in range(300):
                if all(trickler.statuses for trickler in tricklers):
                    break
                waited.wait(0.2)
        finally:
            stop.set()
            for trickler in tricklers:
                trickler.join(30)
        ended = [status for trickler in tricklers for status in trickler.statuses]
        assert all(trickler.statuses for trickler in tricklers), ended
        assert {code for code, _ in ended} == {4}, ended  # DEADLINE_EXCEEDED, saying why
        assert all("did not arrive within" in words and "--min-receive-rate" in words for _, words in ended), ended
        lines = [line for line in metrics_lines(server.server_address[1]) if "grpc_ModelInfer" in line]
        assert any('code="DEADLINE_EXCEEDED"' in line for line in lines), lines
        assert any('code="OK"' in line and line.endswith(" 3.0") for line in lines), lines


def counted(port: int) -> dict[str, float]:
    """grpc_ModelInfer's calls in /metrics, by code."""
    return {re.search(r'code="(\w+)"', line).group(1): float(line.rsplit(" ", 1)[1])  # type: ignore[union-attr]
            for line in metrics_lines(port) if "grpc_ModelInfer" in line}


def wait_counted(port: int, code: str) -> dict[str, float]:
    seen: dict[str, float] = {}
    for _ in range(150):  # the handler counts the call once grpcio has ended it
        seen = counted(port)
        if code in seen:
            break
        threading.Event().wait(0.2)
    return seen


@pytest.mark.parametrize("leaving", ["reset", "close"])
def test_a_client_leaving_mid_message_is_not_counted_as_over_size(tmp_path: Path, leaving: str,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    # It was counted RESOURCE_EXHAUSTED, as if the server had refused an over-size message.
    caplog.set_level(logging.INFO, "modelpack.serve")
    with in_process(tmp_path, max_request_bytes=100_000) as server:
        with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=30) as conn:
            begin_message(conn, 50_000)
            conn.sendall(http2_frame(0, 0, 1, b"\x0a" * 1000))
            if leaving == "reset":
                conn.sendall(http2_frame(3, 0, 1, struct.pack(">I", 8)))  # RST_STREAM, CANCEL: as grpcio cancels
                conn.recv(65536)
        seen = wait_counted(server.server_address[1], "CANCELLED")
        assert seen == {"CANCELLED": 1.0}, seen
    ended = [r.getMessage() for r in caplog.records if "gRPC ModelInfer" in r.getMessage()]
    assert len(ended) == 1 and ended[0].endswith(": the client cancelled or left while its message arrived"), ended


def test_an_over_size_message_is_told_from_a_client_leaving(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """gRPC's core refuses a message over the limit (the client gets RESOURCE_EXHAUSTED); the handler saw
    only an ended call, as when a client leaves: both were counted CANCELLED and said "over the limit,
    or its client left". Now each is counted and logged as what it was."""
    from tritonclient.utils import InferenceServerException

    caplog.set_level(logging.INFO, "modelpack.serve")
    with in_process(tmp_path, max_request_bytes=100_000) as server:
        client = grpc_client.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        tensor = grpc_client.InferInput("x", [4000, 4], "FP64")  # 128,000 bytes of data
        tensor.set_data_from_numpy(np.ones((4000, 4)))
        with pytest.raises(InferenceServerException) as refused:
            client.infer("iris", [tensor], client_timeout=30)
        assert "RESOURCE_EXHAUSTED" in str(refused.value.status()), refused.value
        assert wait_counted(server.server_address[1], "RESOURCE_EXHAUSTED") == {"RESOURCE_EXHAUSTED": 1.0}
        with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=30) as conn:
            begin_message(conn, 200_000)  # a raw client too: the header alone says it is too big
            for _ in range(150):  # connected until it is counted (a bound for the test, not an assertion)
                seen = counted(server.server_address[1])
                if seen != {"RESOURCE_EXHAUSTED": 1.0}:
                    break
                threading.Event().wait(0.2)
        assert seen == {"RESOURCE_EXHAUSTED": 2.0}, seen
        assert infer(client) == [0]  # and the server goes on
    ended = [r.getMessage() for r in caplog.records if "gRPC ModelInfer" in r.getMessage()]
    assert len(ended) == 2 and all(line.endswith(": the request message was refused by gRPC's core: over the "
                                                 "limit of 100000 bytes (--max-request-size), or compressed "
                                                 "unreadably") for line in ended), ended


def test_a_client_whose_deadline_passes_mid_message_is_counted_so(tmp_path: Path) -> None:
    headers = infer_headers() + b"\x00\x0cgrpc-timeout\x04200m"  # 200 ms, as grpcio sends a deadline
    with in_process(tmp_path, max_request_bytes=100_000) as server:
        with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=30) as conn:
            begin_message(conn, 50_000, headers)
            seen = wait_counted(server.server_address[1], "DEADLINE_EXCEEDED")
        assert seen == {"DEADLINE_EXCEEDED": 1.0}, seen


def test_min_receive_rate_sets_the_deadline_from_the_command_line(served: object) -> None:  # noqa: F811
    # 1 s and 100,000 bytes at 50,000 bytes/s: 3 s, however long --request-timeout is.
    server = served("--grpc-port", "0", "--request-timeout", "60", "--max-request-size", "100000",  # type: ignore[operator]
                    "--min-receive-rate", "50000")
    code, words = first_cut_off(int(server.grpc_target.rsplit(":", 1)[1]))
    assert code == 4 and "did not arrive within 3 s" in words, (code, words)


def first_cut_off(port: int, method: str = "ModelInfer") -> tuple[int, str]:
    """How the server ended the first call of a Trickler of `method` (waiting at most 60 s for it, a
    bound for the test, not an assertion): (0, "") when it did not."""
    stop = threading.Event()
    trickler = Trickler(port, stop, method)
    trickler.start()
    try:
        for _ in range(300):
            if trickler.statuses:
                break
            threading.Event().wait(0.2)
    finally:
        stop.set()
        trickler.join(30)
    return trickler.statuses[0] if trickler.statuses else (0, "")


@pytest.mark.parametrize("method", ["ServerLive", "ModelMetadata"])
def test_a_trickled_message_of_any_method_is_cut_off_in_time(tmp_path: Path, method: str) -> None:
    """grpcio read a unary method's message itself, with no deadline: a client trickling one held its call
    (one of --max-connections) until its connection's age ran out (ten times --request-timeout), where a
    trickled ModelInfer message was cut off after the receive deadline (1.1 s here)."""
    with in_process(tmp_path, request_timeout=60, max_request_bytes=100_000) as server:  # (age: 600 s)
        code, words = first_cut_off(server.grpc_port, method)
        assert code == 4 and "did not arrive within 1.1 s" in words, (code, words)  # DEADLINE_EXCEEDED
        lines = [line for line in metrics_lines(server.server_address[1]) if f"grpc_{method}" in line]
        assert any('code="DEADLINE_EXCEEDED"' in line for line in lines), lines
        client = grpc_client.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        assert client.is_server_live() and client.get_model_metadata("iris").name == "iris"
