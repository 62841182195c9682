"""`modelpack serve` as a process: what it leaves on disk, how it stops, and how it says it cannot start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
BODY = json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}).encode()


def onnx_model(folder: Path) -> Path:
    weights = np.ones((3, 2), dtype=np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "linear",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
                              [helper.make_tensor("W", TensorProto.FLOAT, [3, 2], weights.reshape(-1).tolist())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir()
    onnx.save(model, folder / "model.onnx")
    (folder / "modelpack.yaml").write_text("name: linear\nversion: '1.0'\nframework: onnx\n")
    return folder


@pytest.fixture
def pushed(registry: Registry, tmp_path: Path) -> str:
    ref = registry.repo() + ":1.0"
    mp.push(onnx_model(tmp_path / "linear"), ref, options=PLAIN)
    return ref


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """TMPDIR of the serve process: whatever it leaves there is a leak."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


def copies(scratch: Path) -> list[Path]:
    """What serve left in TMPDIR (onnxruntime keeps a `.ses` session file of its own there)."""
    return list(scratch.glob("modelpack-serve-*"))


def start(scratch: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", *args, "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    assert proc.stderr is not None
    before = []  # what serve says before it is ready: "verified ...", "model NAME: POST URL"
    while not (line := proc.stderr.readline()).startswith("serving on") and line and len(before) < 5:
        before.append(line)
    if "serving on http://127.0.0.1:" not in line:
        proc.kill()
        raise AssertionError("".join(before) + line + proc.stderr.read())
    SAID[proc.pid] = before
    return proc, int(line.rsplit(":", 1)[1].split("/")[0])


SAID: dict[int, list[str]] = {}  # a started server's pid -> its lines before "serving on"


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except (ConnectionRefusedError, ConnectionResetError):  # reset: the listener closed with our connect queued
        return True
    return False


def wait_until_refused(port: int) -> None:
    deadline = time.monotonic() + 30
    while not refused(port):
        assert time.monotonic() < deadline, "the server kept accepting connections after the stop signal"
        time.sleep(0.05)


def answer(port: int) -> bytes:
    """The whole reply to one inference request on a connection of its own."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn.sendall(b"POST /v2/models/linear/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
    reply = b""
    while chunk := conn.recv(65536):
        reply += chunk
    conn.close()
    return reply


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_finishes_the_request_in_flight_and_exits_0_leaving_nothing(
        pushed: str, scratch: Path, processes: list[subprocess.Popen[str]], stop: signal.Signals) -> None:
    proc, port = start(scratch, pushed, "--plain-http")
    processes.append(proc)
    assert copies(scratch) == [], "the unpacked model copy is removed once the model is loaded"
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST /v2/models/linear/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n").encode()
    conn.sendall(head + BODY[:10])  # in flight: half of the body sent
    proc.send_signal(stop)
    wait_until_refused(port)
    conn.sendall(BODY[10:])
    reply = b""
    while chunk := conn.recv(65536):
        reply += chunk
    conn.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply  # answered, then closed: the server is stopping
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["outputs"][0]["data"] == [6.0, 6.0]
    assert proc.wait(timeout=60) == 0
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "stopped" in err and "interrupted" not in err and "Traceback" not in err
    assert copies(scratch) == []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_workers_share_the_port_and_stop_together_with_exit_0(tmp_path: Path, scratch: Path, stop: signal.Signals,
                                                               processes: list[subprocess.Popen[str]]) -> None:
    proc, port = start(scratch, str(onnx_model(tmp_path / "m")), "--workers", "2")
    processes.append(proc)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert len(children) == 2
    listening = {pid for pid in children if any(
        os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:") for fd in os.listdir(f"/proc/{pid}/fd"))}
    assert listening == set(children)
    for _ in range(20):
        reply = answer(port)
        assert reply.startswith(b"HTTP/1.1 200"), reply
    proc.send_signal(stop)
    assert proc.wait(timeout=60) == 0
    assert proc.stderr is not None
    err = proc.stderr.read()
    # Said once, naming what the user sent (Ctrl-C is SIGINT), not once per worker naming our SIGTERM.
    assert err.count(" received: ") == 1 and f"{stop.name} received: " in err, err
    assert err.rstrip().endswith("stopped") and "Traceback" not in err
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)


def test_port_in_use_names_host_and_port_and_leaves_nothing(pushed: str, scratch: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "modelpack", "serve", pushed, "--plain-http", "--port", str(port)],
                             capture_output=True, text=True, env={**os.environ, "TMPDIR": str(scratch)}, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in run.stderr and "in use" in run.stderr
    assert copies(scratch) == []


def test_port_in_use_is_said_before_the_model_is_fetched_or_loaded(registry: Registry, tmp_path: Path) -> None:
    """The port is bound first: a busy one was said only after the model was pulled and loaded (minutes
    for a large one), so here the model's own fault, which loading would find, is not what is said."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("no model here\n")
    ref = registry.repo() + ":1"
    mp.push(folder, ref, options=PLAIN)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for source in (ref, str(folder)):
            run = modelpack("serve", source, "--plain-http", "--port", str(port))
            assert run.code == 2 and run.err.count("\n") == 1, run.err
            assert f"cannot listen on 127.0.0.1:{port}" in run.err and "no model file" not in run.err


def test_a_model_that_cannot_be_served_is_named_by_its_reference(registry: Registry, tmp_path: Path,
                                                                 scratch: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("no model here\n")
    ref = registry.repo() + ":1"
    mp.push(folder, ref, options=PLAIN)
    run = subprocess.run([sys.executable, "-m", "modelpack", "serve", ref, "--plain-http"], capture_output=True,
                         text=True, env={**os.environ, "TMPDIR": str(scratch)}, timeout=120)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert f"in {ref} " in run.stderr and "modelpack-serve-" not in run.stderr
    assert copies(scratch) == []


def test_missing_directory_and_a_file_are_not_called_bad_references(tmp_path: Path) -> None:
    missing = modelpack("serve", str(tmp_path / "nonexist"))
    assert missing.code == 2 and "no such directory (and not a reference)" in missing.err
    assert "bad repository" not in missing.err
    (tmp_path / "afile").write_text("x")
    a_file = modelpack("serve", str(tmp_path / "afile"))
    assert a_file.code == 2 and "not a directory" in a_file.err


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_port_out_of_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    run = modelpack("serve", str(onnx_model(tmp_path / "m")), "--port", port)
    assert run.code == 2 and run.err.count("\n") == 1 and "--port" in run.err and "Overflow" not in run.err


def test_registry_retries_are_not_printed_without_verbose(registry: Registry, pushed: str,
                                                          processes: list[subprocess.Popen[str]],
                                                          scratch: Path) -> None:
    with FaultProxy(registry.host) as proxy:
        proxy.faults.append(Fault(r"GET .*/manifests/", times=1, status=503, headers={"Retry-After": "0"}))
        proc, _ = start(scratch, proxy.host + "/" + pushed.split("/", 1)[1], "--plain-http")
        processes.append(proc)
        assert all(f.times == 0 for f in proxy.faults), "the fault was hit"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert proc.stderr is not None
    assert "retrying" not in proc.stderr.read()


def test_a_client_leaving_mid_body_is_counted_not_logged_as_a_traceback(
        pushed: str, scratch: Path, processes: list[subprocess.Popen[str]]) -> None:
    proc, port = start(scratch, pushed, "--plain-http")
    processes.append(proc)
    head = (f"POST /v2/models/linear/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n").encode()
    for _ in range(3):  # as wrk's connections do when a run ends: gone with half a request sent
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(head + BODY[:10])
            time.sleep(0.2)  # the request has reached the application, which waits for the rest
    deadline = time.monotonic() + 30
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
            page = resp.read().decode()
        left = [line for line in page.splitlines()
                if line.startswith("modelpack_requests_total{") and 'endpoint="infer"' in line and 'code="499"' in line]
        if left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left and left[0].endswith(" 3.0"), page
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/linear/infer", data=BODY)
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert json.loads(resp.read())["outputs"][0]["data"] == [6.0, 6.0]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "Traceback" not in err and "ClientDisconnect" not in err, err


def test_serve_says_what_vouched_for_the_model_as_pull_does(pushed: str, scratch: Path, tmp_path: Path,
                                                            processes: list[subprocess.Popen[str]]) -> None:
    # `pull --verify-key` says "verified REF@DIGEST: 1 valid signature"; `serve REF --verify-key` said nothing.
    from test_serve_trust import keypair, sign

    key, public = keypair(tmp_path, "k")
    sign(pushed, key)
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", pushed, "--plain-http", "--port", "0",
                             "--verify-key", str(public)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env={**os.environ, "TMPDIR": str(scratch)})
    processes.append(proc)
    assert proc.stderr is not None
    said = [proc.stderr.readline(), proc.stderr.readline(), proc.stderr.readline()]
    digest = mp.remote(mp.Reference.parse(pushed), PLAIN).resolve("1.0").digest
    assert said[0] == f"verified {pushed.rsplit(':', 1)[0]}@{digest}: 1 valid signature\n", said
    assert said[1].startswith("model ") and "serving on http://127.0.0.1:" in said[2], said


def test_serve_says_where_the_model_answers(scratch: Path, tmp_path: Path,
                                            processes: list[subprocess.Popen[str]]) -> None:
    # "serving on http://HOST:PORT/v2" alone: a newcomer serving ./some-folder had to guess the name in
    # /v2/models/NAME/infer (modelpack.yaml's, not the folder's)
    folder = onnx_model(tmp_path / "some-folder")
    proc, port = start(scratch, str(folder))
    processes.append(proc)
    url = f"http://127.0.0.1:{port}/v2/models/linear/infer"
    assert SAID[proc.pid] == [f"model linear 1.0: POST {url}\n"]  # just before "serving on": ready
    request = urllib.request.Request(url, data=BODY, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.load(answer)["model_name"] == "linear"
