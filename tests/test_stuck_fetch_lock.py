"""A pull that holds a blob's fetch lock (ingest/<hex>.fetching) and makes no progress (SIGSTOPped, hung)
held every other pull of that blob into the same store forever. Now the waiter gives up once the holder's
files stay still for its `--timeout`, says in one line which process holds the lock, and fetches the blob
into a file of its own (verified, then named); the stopped pull, resumed, ends well too. Real registry
behind tests/fault_proxy.py, which holds the first pull's download part-way; the first pull is a real
`modelpack pull` process, stopped with SIGSTOP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy
from helpers import modelpack, push_weight
from registry_process import Registry
from test_concurrent_pulls import _holds_fetch_lock, _wait_for
from test_resumed_pull import HELD_AT, WEIGHT
from test_transfer import _repo


@pytest.mark.parametrize("size", [4_000_000, WEIGHT], ids=["whole", "resumable"])
def test_a_stopped_pull_holding_the_lock_does_not_hang_the_next(registry: Registry, proxy: FaultProxy,
                                                                 tmp_path: Path, size: int,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ref, weight, digest = push_weight(_repo(registry, proxy), tmp_path, size)
    home = tmp_path / "home"
    monkeypatch.setenv("MODELPACK_HOME", str(home))
    proxy.clear()
    stall = Fault(f"GET .*/blobs/sha256:{digest}", times=1, stall_after=min(HELD_AT, size // 2))
    proxy.faults.append(stall)
    first = subprocess.Popen([sys.executable, "-m", "modelpack", "pull", "--plain-http", ref],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        _wait_for(lambda: stall.times == 0 and _holds_fetch_lock(first), "the first pull holds the weight")
        first.send_signal(signal.SIGSTOP)
        second = subprocess.Popen([sys.executable, "-m", "modelpack", "pull", "--plain-http", "--json",
                                   "--timeout", "2", ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = second.communicate(timeout=90)  # before the fix: never ended
    finally:
        if second is not None and second.poll() is None:
            second.kill()
        first.send_signal(signal.SIGCONT)
        stall.release.set()
    _, first_err = first.communicate(timeout=90)
    assert second.returncode == 0, err
    said = [line for line in err.splitlines() if line.startswith(f"warning: blob sha256:{digest}: ")]
    assert len(said) == 1, err  # one line, naming the holder and what the pull does instead
    assert f"process {first.pid} (stopped) has held" in said[0] and "file of its own" in said[0]
    assert json.loads(out)["bytesCopied"] >= size  # fetched by the second pull itself
    assert (home / "blobs" / "sha256" / digest).read_bytes() == weight
    assert first.returncode == 0, first_err  # the stopped pull, resumed, ends well too
    check = modelpack("store", "check", "--json")
    assert check.code == 0 and json.loads(check.out)["ok"], check.out
    assert sorted(os.listdir(home / "ingest")) == []
