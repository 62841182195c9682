"""`serve --workers N`: the workers end with their parent, however it ends (a supervisor's SIGKILL)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from test_serve_lifecycle import BODY, onnx_model, processes, refused, scratch, start  # noqa: F401 (fixtures)

GONE_WITHIN = 90.0  # seconds: generous, a worker finishes its requests in flight before it exits


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (exited, or a zombie its new parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_until_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + GONE_WITHIN
    while not all(gone(pid) for pid in pids):
        left = [pid for pid in pids if not gone(pid)]
        assert time.monotonic() < deadline, f"workers {left} outlived their parent"
        time.sleep(0.1)


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def port_is_free(port: int) -> bool:
    """Nothing accepts on the port, and a new server can listen on it (SO_REUSEADDR, as servers bind)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return refused(port)


def test_sigkilled_parent_takes_its_workers_and_the_port_with_it(tmp_path: Path, scratch: Path,  # noqa: F811
                                                                 processes: list[subprocess.Popen[str]]) -> None:  # noqa: F811
    proc, port = start(scratch, str(onnx_model(tmp_path / "m")), "--workers", "2")
    processes.append(proc)
    workers = children(proc.pid)
    assert len(workers) == 2
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/linear/infer", data=BODY)
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200
    assert not port_is_free(port)
    proc.kill()  # as a supervisor or the OOM killer would: nothing is passed on to the workers
    proc.wait(timeout=30)
    try:
        wait_until_gone(workers)
    finally:
        for pid in workers:  # never leave a server behind, even when the assertion failed
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
    assert port_is_free(port)
    assert list(scratch.glob("modelpack-metrics-*")) == [], "the workers' metrics folder went with them"


def worker_command(model: Path, listen_fd: int, parent_fd: int) -> list[str]:
    """What `run_workers` starts (a worker serving on an inherited socket, watching the parent's pipe)."""
    return [sys.executable, "-m", "modelpack", "serve", str(model), "--port", "0", "--workers", "1",
            "--listen-fd", str(listen_fd), "--parent-fd", str(parent_fd)]


def test_a_worker_whose_parent_is_already_gone_does_not_stay(tmp_path: Path) -> None:
    """The race a parent-death signal alone has (the parent gone before the worker asked for it): here
    the parent's end of the pipe is closed before the worker starts; this process, its real parent,
    stays alive, so only the pipe can tell the worker."""
    model = onnx_model(tmp_path / "m")
    read_end, write_end = os.pipe()
    os.close(write_end)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        worker = subprocess.Popen(worker_command(model, sock.fileno(), read_end), pass_fds=(sock.fileno(), read_end),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    os.close(read_end)
    try:
        _, err = worker.communicate(timeout=GONE_WITHIN)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode in (0, -signal.SIGTERM), err  # stopped by SIGTERM: while loading, or cleanly
    assert "Traceback" not in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_on_linux_the_kernel_signals_the_worker_even_while_the_pipe_stays_open(
        tmp_path: Path, processes: list[subprocess.Popen[str]]) -> None:  # noqa: F811
    """The parent-death signal alone: the pipe's write end is held here, so it never reaches end-of-file;
    the worker's parent is a small process that is SIGKILLed once the worker serves."""
    model = onnx_model(tmp_path / "m")
    read_end, write_end = os.pipe()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        parent_code = textwrap.dedent(f"""
            import subprocess, sys, time
            worker = subprocess.Popen({worker_command(model, sock.fileno(), read_end)!r},
                                      pass_fds=({sock.fileno()}, {read_end}))
            print(worker.pid, flush=True)
            time.sleep(3600)
        """)
        parent = subprocess.Popen([sys.executable, "-c", parent_code], pass_fds=(sock.fileno(), read_end),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(read_end)
    processes.append(parent)
    try:
        assert parent.stdout is not None and parent.stderr is not None
        worker = int(parent.stdout.readline())
        said = [parent.stderr.readline(), parent.stderr.readline()]  # the worker's stderr is the parent's
        assert said[0].startswith("model ") and said[1].startswith("serving on "), said  # (no read to EOF: it sleeps)
        parent.kill()
        parent.wait(timeout=30)
        try:
            wait_until_gone([worker])
        finally:
            if not gone(worker):
                os.kill(worker, signal.SIGKILL)
        assert port_is_free(port)
    finally:
        os.close(write_end)


def test_sigint_while_the_workers_load_stops_them_all(tmp_path: Path, scratch: Path,  # noqa: F811
                                                      processes: list[subprocess.Popen[str]]) -> None:  # noqa: F811
    """A SIGINT before every worker serves stops the whole server; none keeps serving and "serving on" is
    never said. Started as a shell's `cmd &` starts it: SIGINT ignored, which the workers inherit."""
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", str(onnx_model(tmp_path / "m")),
                             "--workers", "2", "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    processes.append(proc)
    deadline = time.monotonic() + GONE_WITHIN
    while len(workers := children(proc.pid)) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, "the workers did not start"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)  # the workers are still importing and loading the model
    try:
        _, err = proc.communicate(timeout=GONE_WITHIN)
        wait_until_gone(workers)
    finally:
        for pid in workers:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
    assert "serving on" not in err
    assert "Traceback" not in err
    assert proc.returncode == 0, err  # a requested stop, as once serving
