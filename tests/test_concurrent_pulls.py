"""Two pulls of one model into one local store (two pods on a node, a CI matrix): each blob is fetched
from the registry once. The second pull waits for the first's download and takes the blob it stored
(it used to fetch every blob again: twice the egress and disk writes). A first pull that is killed
hands the blob over; Ctrl-C ends a waiting pull at once. Real registry behind tests/fault_proxy.py,
which holds the first download half-way so that the two overlap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_transfer import _repo

PLAIN = ClientOptions(plain_http=True)


def _start(ref: str, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "modelpack", "pull", "--plain-http", "--json", ref],
                            env={**os.environ, "MODELPACK_HOME": str(home)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _holds_fetch_lock(process: subprocess.Popen[str]) -> bool:
    """Whether the process has a blob's `.fetching` lock file open (holding or waiting for it)."""
    fds = Path(f"/proc/{process.pid}/fd")
    try:
        return any(os.readlink(fd).endswith(".fetching") for fd in fds.iterdir())
    except OSError:  # gone, or an fd closed while listed
        return False


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + 30  # a bound on a wait that ends in well under a second
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"never: {what}")


def _setup(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> tuple[str, str, Fault]:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(4_000_000))
    ref = _repo(registry, proxy) + ":1"
    pushed = mp.push(model, ref, options=PLAIN)
    weight = next(d.digest for d in mp.inspect(ref.rsplit(":", 1)[0] + "@" + pushed.descriptor.digest,
                                                 options=PLAIN, remote_only=True).files)
    stall = Fault(f"GET .*/blobs/{weight}", times=1, stall_after=1_000_000)  # the first download only
    proxy.faults.append(stall)
    proxy.clear()
    return ref, weight, stall


def test_two_pulls_fetch_each_blob_once(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    ref, weight, stall = _setup(registry, proxy, tmp_path)
    home = tmp_path / "home"
    first = _start(ref, home)
    second = None
    try:
        _wait_for(lambda: stall.times == 0, "the first pull began the weight")
        second = _start(ref, home)
        # Before the fix, the second pull fetched the weight itself and ended; now it waits for the first.
        _wait_for(lambda: second.poll() is not None or _holds_fetch_lock(second), "the second pull waits")
    finally:
        stall.release.set()
    out1, err1 = first.communicate(timeout=60)
    out2, err2 = second.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert len(proxy.requests("GET", f"/blobs/{weight}")) == 1
    results = [json.loads(out1), json.loads(out2)]
    assert sorted(r["bytesCopied"] >= 4_000_000 for r in results) == [False, True]  # the second sent nothing
    check = modelpack("store", "check", "--json", env={"MODELPACK_HOME": str(home)})
    assert check.code == 0 and json.loads(check.out)["ok"], check.out
    assert sorted(p.name for p in (home / "ingest").iterdir()) == []  # no lock file left


def _second_waiting(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> tuple[
        Path, Fault, subprocess.Popen[str], subprocess.Popen[str]]:
    """(home, stall, first, second): the first pull holds the weight's download, the second waits for it."""
    ref, _, stall = _setup(registry, proxy, tmp_path)
    home = tmp_path / "home"
    first = _start(ref, home)
    try:
        _wait_for(lambda: stall.times == 0, "the first pull began the weight")
        second = _start(ref, home)
        _wait_for(lambda: _holds_fetch_lock(second), "the second pull waits")
    except BaseException:
        stall.release.set()
        raise
    return home, stall, first, second


def test_a_killed_first_pull_hands_the_blob_over(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    home, stall, first, second = _second_waiting(registry, proxy, tmp_path)
    try:
        first.kill()  # its lock goes with it
        first.communicate(timeout=30)
        out, err = second.communicate(timeout=60)
    finally:
        stall.release.set()
    assert second.returncode == 0, err
    assert json.loads(out)["bytesCopied"] >= 4_000_000  # the weight, fetched by the second itself
    check = modelpack("store", "check", "--json", env={"MODELPACK_HOME": str(home)})
    assert check.code == 0 and json.loads(check.out)["ok"], check.out


def test_ctrl_c_ends_a_pull_waiting_for_another(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    _, stall, first, second = _second_waiting(registry, proxy, tmp_path)
    try:
        second.send_signal(signal.SIGINT)
        _, err = second.communicate(timeout=20)  # the first pull is still held: the wait itself must end
    finally:
        stall.release.set()
    first.communicate(timeout=60)
    assert second.returncode == 130, err
    assert err.strip() == "error: interrupted"
    assert first.returncode == 0
