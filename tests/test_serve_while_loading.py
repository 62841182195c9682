"""While `serve` loads its model, its port answers as Triton's and KServe's do: live 200, ready 400
(not ready), anything else 503 with Retry-After; then the model's server takes the port over with no
connection refused in between. Checked with tritonclient's HTTP client and raw sockets.

The model is a pickle (a directory's: loaded as the user's choice) whose loading waits until the test
opens a FIFO for writing, so the test decides when the load ends: no timing."""

from __future__ import annotations

import errno
import json
import operator
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from test_serve_lifecycle import processes as processes
from test_serve_lifecycle import scratch as scratch


class _Opening:
    """Unpickles as `open(fifo)`: it returns once a writer opens the FIFO."""

    def __init__(self, fifo: str) -> None:
        self.fifo = fifo

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return open, (self.fifo,)


class AfterTheFifo:
    """Unpickles as `model`, once the FIFO has been opened for writing."""

    def __init__(self, fifo: str, model: Any) -> None:
        self.fifo, self.model = fifo, model

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return operator.itemgetter(1), ((_Opening(self.fifo), self.model),)


@pytest.fixture
def gated(tmp_path: Path) -> tuple[Path, Path]:
    """A model directory whose pickle loads once the returned FIFO is opened for writing."""
    from sklearn.linear_model import LinearRegression

    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    folder = tmp_path / "gated"
    folder.mkdir()
    model = LinearRegression().fit(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]), np.array([0.0, 2.0, 2.0]))
    (folder / "model.pkl").write_bytes(pickle.dumps(AfterTheFifo(str(fifo), model)))
    (folder / "modelpack.yaml").write_text("name: gated\nversion: '1'\nframework: scikit-learn\n")
    return folder, fifo


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ask(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request on a connection of its own: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    return ask(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())


def release(fifo: Path, proc: subprocess.Popen[str]) -> int:
    """Open the FIFO for writing once a server process waits on it, which ends its load (and the load of
    any process that opens it while this end is open); the end, to close."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            assert exc.errno == errno.ENXIO, exc  # no reader yet: the model is still being unpacked
        assert time.monotonic() < deadline and proc.poll() is None, "the model's load never began"
        time.sleep(0.05)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_port_answers_while_the_model_loads_then_the_model_takes_it_over(
        gated: tuple[Path, Path], scratch: Path, processes: list[subprocess.Popen[str]], workers: str) -> None:
    import tritonclient.http as triton

    folder, fifo = gated
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", str(folder), "--port", str(port),
                             "--workers", workers], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    processes.append(proc)
    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:  # (the interpreter is still starting: nothing listens yet)
        try:
            assert client.is_server_live()
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline and proc.poll() is None, "serve never listened"
            time.sleep(0.05)
    assert not client.is_server_ready()
    assert not client.is_model_ready("gated")
    status, _, body = get(port, "/v2/health/ready")
    assert (status, json.loads(body)) == (400, {"ready": False})
    status, headers, body = ask(port, b"POST /v2/models/gated/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
    assert (status, json.loads(body)) == (503, {"error": "model is loading"})  # answered with none of its body sent
    assert headers["retry-after"] == "5" and headers["connection"] == "close"
    status, _, body = get(port, "/v2/models/gated")
    assert (status, json.loads(body)) == (503, {"error": "model is loading"})
    status, _, _ = ask(port, b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"x" * 70000 + b"\r\n\r\n")
    assert status == 431  # the model server's cap on a request's head holds while loading too

    # Through the handover: every connection is accepted and answered, by one server or the other.
    seen: list[Any] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            try:
                seen.append(get(port, "/v2/health/ready")[0])
            except OSError as exc:
                seen.append(exc)

    prober = threading.Thread(target=probe)
    prober.start()
    gate = None
    try:
        gate = release(fifo, proc)
        assert proc.stderr is not None
        for line in proc.stderr:  # (said once every worker serves)
            if line.startswith("serving on "):
                break
        after = len(seen)
        while len(seen) < after + 20:  # probes begun after it
            assert proc.poll() is None
            time.sleep(0.01)
    finally:
        done.set()
        prober.join(30)
        if gate is not None:
            os.close(gate)
    assert all(code in (400, 200) for code in seen), [s for s in seen if s not in (400, 200)]
    assert seen.index(200) > 0 and 400 not in seen[after + 1:], seen
    if workers == "1":  # (with workers, the first one serves while the parent, told so, stops answering)
        assert 400 not in seen[seen.index(200):], seen
    assert client.is_server_ready() and client.is_model_ready("gated")
    infer = json.dumps({"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1, 1]}]})
    status, _, body = ask(port, f"POST /v2/models/gated/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                f"Content-Length: {len(infer)}\r\n\r\n{infer}".encode())
    assert status == 200 and json.loads(body)["outputs"][0]["data"] == pytest.approx([2.0]), body
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_grpc_answers_while_the_model_loads_then_the_model_takes_its_port_over(
        gated: tuple[Path, Path], scratch: Path, processes: list[subprocess.Popen[str]], workers: str) -> None:
    import tritonclient.grpc as triton
    from tritonclient.utils import InferenceServerException

    folder, fifo = gated
    port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", str(folder), "--port", str(port),
                             "--grpc-port", str(grpc_port), "--workers", workers], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env={**os.environ, "TMPDIR": str(scratch)})
    processes.append(proc)
    client = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    deadline = time.monotonic() + 60
    while True:
        try:
            assert client.is_server_live()
            break
        except InferenceServerException:  # (not listening yet)
            assert time.monotonic() < deadline and proc.poll() is None, "serve never listened for gRPC"
            time.sleep(0.05)
    assert not client.is_server_ready() and not client.is_model_ready("gated")
    with pytest.raises(InferenceServerException) as loading:
        client.get_model_metadata("gated")
    assert loading.value.status() == "StatusCode.UNAVAILABLE" and "model is loading" in loading.value.message()
    gate = release(fifo, proc)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("serving on "):
                break
    finally:
        os.close(gate)
    assert f"grpc://127.0.0.1:{grpc_port}" in line or workers != "1"
    # The same client (channel): its connection to the loading server went away, it reconnected.
    assert triton.InferenceServerClient(f"127.0.0.1:{grpc_port}").is_model_ready("gated")
    assert client.is_server_ready()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
