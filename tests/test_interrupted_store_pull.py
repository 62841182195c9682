"""Ctrl-C during a pull into the local store ends it now and leaves nothing in it: a read waiting on a
silent registry stops (not after the 30 s stall bound), and the blob the worker was receiving is removed
from ingest/ before the command exits, not left for `store gc`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import push_weight
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_transfer import _repo

PLAIN = ClientOptions(plain_http=True)


def _unfinished(home: Path) -> list[str]:
    ingest = home / "ingest"
    return sorted(p.name for p in ingest.iterdir() if not p.name.startswith(".")) if ingest.exists() else []


def test_ctrl_c_while_a_blob_is_half_received_leaves_no_ingest_file(registry: Registry, proxy: FaultProxy,
                                                                   tmp_path: Path) -> None:
    ref, _, _ = push_weight(_repo(registry, proxy), tmp_path, 8_000_000)
    # The weight arrives up to 3 MB, then nothing: a worker holds it half written in ingest/ while the
    # main thread waits for it. Ctrl-C then; the worker must be waited for, not left to die at exit.
    stall = Fault("GET .*/blobs/", times=10, stall_after=3_000_000)
    proxy.faults.append(stall)
    home = tmp_path / "home"
    process = subprocess.Popen([sys.executable, "-m", "modelpack", "pull", "--plain-http", ref],
                               env={**os.environ, "MODELPACK_HOME": str(home)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                (home / "ingest" / name).stat().st_size > 0 for name in _unfinished(home)):
            time.sleep(0.02)
        assert _unfinished(home), "the pull never began to receive the weight"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)  # the stall bound, 30 s, would have ended it otherwise
    finally:
        stall.release.set()
    assert process.returncode == 130, err
    assert err.strip() == "error: interrupted"
    assert _unfinished(home) == []


def test_ctrl_c_with_blobs_still_queued_ends_the_pull(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    for index in range(4):
        (model / f"w{index}.safetensors").write_bytes(os.urandom(2_000_000))
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    # One worker, told to come back in a minute: the other blobs wait in the pool's queue. Ctrl-C cancels
    # them, and a cancelled job never counts as done for concurrent.futures.wait: waiting on it hung.
    proxy.faults.append(Fault("GET .*/blobs/", times=10, status=503, headers={"Retry-After": "60"}))
    proxy.clear()
    home = tmp_path / "home"
    process = subprocess.Popen([sys.executable, "-m", "modelpack", "pull", "--plain-http", ref],
                               env={**os.environ, "MODELPACK_HOME": str(home), "MODELPACK_CONCURRENCY": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not proxy.requests("GET", "/blobs/"):
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=20)  # the Retry-After, 60 s, would have ended it otherwise
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert err.strip() == "error: interrupted"
    assert _unfinished(home) == []
