"""A registry that takes a request and stays silent holds a read for `--timeout` in all, never longer: a small
blob's quick fetch (curl engine) is the first attempt of its GET, and the ordinary path that takes it over
finishes the same deadline rather than starting one of its own (which made a silent registry hold a small
blob for twice `--timeout`). And the curl engine's stall bound fires while another exchange runs alongside."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from hostile_registry import HostileRegistry
from modelpack.store.curl_engine import CurlEngine, CurlFailure, Exchange
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_transfer import _repo

EXIT_TRANSPORT = 5


@pytest.fixture
def engine() -> Iterator[CurlEngine]:
    made = CurlEngine(False)
    try:
        yield made
    finally:
        made.close()


def test_a_silent_exchange_stalls_out_while_another_runs_alongside(registry: Registry, engine: CurlEngine) -> None:
    # libcurl arms an exchange's low-speed check only when it runs that exchange; driven by socket events
    # alone, one begun with another was left unarmed and waited until its connect timeout's timer ran it
    # (here 40 s; an answer had no other bound). Every exchange is now run once a second while busy.
    with HostileRegistry() as server:
        server.routes["GET /silent"] = server.never_answer
        silent = engine.start(Exchange("GET", f"http://{server.host}/silent", {}, None, 1024, 40, None, 1, 1024, ""))
        answered = engine.start(Exchange("GET", f"{registry.url}/v2/", {}, None, 1024, 40, None, 1, 1024, ""))
        assert answered.result(timeout=30).status == 200
        with pytest.raises(CurlFailure) as failed:
            silent.result(timeout=20)  # an unarmed stall bound waits 40 s
    assert failed.value.timed_out, failed.value


def test_a_small_blob_from_a_silent_registry_takes_one_timeout(registry: Registry, proxy: FaultProxy,
                                                                tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"small weights" * 100)  # well under 1 MiB: fetched on the quick path first
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=ClientOptions(plain_http=True))
    digest = hashlib.sha256((model / "w.bin").read_bytes()).hexdigest()
    held = Fault(f"GET .*/blobs/sha256:{digest}", times=10, hold=True)  # taken, never answered
    proxy.faults.append(held)
    try:
        proc = subprocess.run([sys.executable, "-m", "modelpack", "pull", "--plain-http", "--timeout", "4", ref,
                               "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    finally:
        held.release.set()
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == EXIT_TRANSPORT, proc.stderr
    assert len(lines) == 1 and "did not answer" in lines[0] and "within 4 s" in lines[0], proc.stderr
    # The quick attempt (half the timeout, as any first attempt), then the ordinary path's one attempt in
    # what is left; each with a deadline of its own, the ordinary path made two more.
    assert 10 - held.times == 2, 10 - held.times  # requests the proxy took and held
    assert not (tmp_path / "out").exists()
