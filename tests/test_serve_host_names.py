"""DNS rebinding against `modelpack serve`: a page whose name resolves to 127.0.0.1 sends its own name as
Host. On a loopback address (serve's default) serve answers only addresses, localhost, this machine's name
and `--allow-host` names: while the model loads and once it is served (metadata, /metrics, inference). On
every address (a container's 0.0.0.0, as `modelpack k8s` runs it) it answers any Host, unless given
`--allow-host`: Kubernetes reaches a pod by service names and IPs it cannot list."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_serve_lifecycle import processes as processes
from test_serve_lifecycle import scratch as scratch
from test_serve_while_loading import ask, free_port, gated, release

__all__ = ["gated", "processes", "scratch"]

INFER = '{"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 1.0]}]}'


def status(port: int, path: str, host: str, body: str | None = None) -> int:
    if body is None:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    else:
        request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json"
                   f"\r\nContent-Length: {len(body)}\r\n\r\n{body}")
    return ask(port, request.encode())[0]


def start(folder: Path, scratch: Path, processes: list[subprocess.Popen[str]],
          *args: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", str(folder), "--port", str(port), *args],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    processes.append(proc)
    deadline = time.monotonic() + 60
    while True:  # (the interpreter is still starting: nothing listens yet)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return proc, port
        except ConnectionRefusedError:
            assert time.monotonic() < deadline and proc.poll() is None, "serve never listened"
            time.sleep(0.05)


def served(fifo: Path, proc: subprocess.Popen[str]) -> int:
    """End the model's load and wait until it serves; the FIFO's end, to close."""
    gate = release(fifo, proc)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("serving on "):
            return gate
    raise AssertionError("serve never served")


@pytest.mark.parametrize("workers", ["1", "2"])  # 2: the parent answers while the workers load
def test_serve_on_loopback_answers_its_own_names_not_a_rebinding_page(
        gated: tuple[Path, Path], scratch: Path, processes: list[subprocess.Popen[str]], workers: str) -> None:
    folder, fifo = gated
    proc, port = start(folder, scratch, processes, "--allow-host", "models.example.com", "--workers", workers)
    # While loading: the health answers tell a page nothing either.
    assert status(port, "/v2/health/live", f"127.0.0.1:{port}") == 200
    assert status(port, "/v2/health/live", f"rebind.example:{port}") == 400
    assert status(port, "/v2/models/gated", "rebind.example") == 400
    gate = served(fifo, proc)
    try:
        refused = {path: status(port, path, f"rebind.example:{port}", body)
                   for path, body in (("/v2/models/gated", None), ("/metrics", None), ("/v2/health/ready", None),
                                      ("/v2/models/gated/infer", INFER))}
        assert refused == dict.fromkeys(refused, 400), refused
        answered = {host: status(port, "/v2/models/gated/infer", host, INFER)
                    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"{socket.gethostname()}:{port}",
                                 "models.example.com")}
        assert answered == dict.fromkeys(answered, 200), answered
    finally:
        os.close(gate)


def test_serve_on_every_address_answers_any_name_unless_given_names(
        gated: tuple[Path, Path], scratch: Path, processes: list[subprocess.Popen[str]]) -> None:
    folder, fifo = gated
    proc, port = start(folder, scratch, processes, "--host", "0.0.0.0")
    assert status(port, "/v2/health/live", "model.team.svc.cluster.local") == 200  # a service's name, loading
    gate = served(fifo, proc)
    try:
        # A kubelet's probe names the pod's IP; a client, the service's name.
        assert status(port, "/v2/health/ready", "10.1.2.3:8080") == 200
        assert status(port, "/v2/models/gated", "model.team.svc.cluster.local") == 200
        proc.terminate()
        proc.wait(timeout=60)
        proc, port = start(folder, scratch, processes, "--host", "0.0.0.0", "--allow-host", "*.svc.cluster.local")
        assert status(port, "/v2/health/live", "rebind.example") == 400  # loading or served: refused either way
        os.close(served(fifo, proc))
        assert status(port, "/v2/models/gated", "rebind.example") == 400
        assert status(port, "/v2/models/gated", "model.team.svc.cluster.local") == 200
        assert status(port, "/v2/health/ready", "10.1.2.3:8080") == 200
    finally:
        os.close(gate)
