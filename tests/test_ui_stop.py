"""`modelpack ui` as a process: SIGINT or SIGTERM while pages are being made (their registry requests in
flight on the page's worker threads) stops it cleanly: the pages in flight are answered, exit 0, no
traceback. Meanwhile every thread but the main one blocks both signals (`modelpack.threads`): the kernel
sends them to the main thread, where Python handles them."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from fault_proxy import Fault, FaultProxy
from registry_process import Registry
from ui_support import push_version

PAGES = 6  # pages asked for at once, each waiting on the registry when the signal comes
STOPS = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))


def unblocked_threads(pid: int) -> list[str]:
    """The threads of process `pid`, but its main one, that do not block SIGINT and SIGTERM."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line)
        if task.name != str(pid) and int(status["SigBlk"], 16) & STOPS != STOPS:
            found.append(task.name)
    return found


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_while_pages_are_made_answers_them_and_exits_0(registry: Registry, tmp_path: Path,
                                                                    stop: signal.Signals) -> None:
    repos = [registry.repo(f"ui-stop-{n}") for n in range(3)]
    for n, repo in enumerate(repos):
        push_version(tmp_path / str(n), f"{repo}:{n}", {"version": str(n), "metrics": {"accuracy": n / 10}})
    with FaultProxy(registry.host) as proxy:
        held = Fault(r"^GET /v2/.*/tags/list", times=PAGES * len(repos), stall_after=0)
        proxy.faults.append(held)
        shown = [f"{proxy.host}/{repo.split('/', 1)[1]}" for repo in repos]
        proc = subprocess.Popen([sys.executable, "-m", "modelpack", "ui", "--plain-http", "--port", "0", *shown],
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        assert proc.stderr is not None
        try:
            line = proc.stderr.readline()
            assert line.startswith("browse http://"), line + proc.stderr.read()
            base = line.split()[-1].rstrip("/")
            answers: list[int] = []

            def page() -> None:
                answers.append(requests.get(f"{base}/", timeout=120).status_code)  # a summary of each repository

            clients = [threading.Thread(target=page) for _ in range(PAGES)]
            for client in clients:
                client.start()
            deadline = time.monotonic() + 60
            while len(proxy.requests("GET", "/tags/list")) < PAGES * len(repos):  # all waiting on the registry
                assert time.monotonic() < deadline, proxy.requests()
                time.sleep(0.05)
            assert unblocked_threads(proc.pid) == []
            proc.send_signal(stop)
            time.sleep(0.5)  # the signal is handled while the pages' registry requests are still held
            held.release.set()
            for client in clients:
                client.join(120)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = proc.stderr.read()
    assert code == 0, err
    assert answers == [200] * PAGES, (answers, err)
    assert "Traceback" not in err and "error" not in err, err


def test_on_every_interface_the_browse_line_is_a_url_to_open(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo("ui-any")
    push_version(tmp_path / "m", f"{repo}:1", {"version": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "ui", "--plain-http", "--host", "0.0.0.0",
                             "--port", "0", repo], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    try:
        line = proc.stderr.readline()
        assert line.startswith("browse http://127.0.0.1:"), line  # it said http://0.0.0.0:PORT/
        assert requests.get(line.split()[-1], timeout=60).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
