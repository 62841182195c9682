"""The curl engine in a process holding more than FD_SETSIZE (1024) descriptors: its connections are numbered
past 1024, which `curl_multi_fdset` (select(2)'s sets) leaves out, so the engine slept through every answer
until its idle poll ran out (a second each, seen in a long test session). Here the idle poll is made
longer than the wait for the answers: an engine not watching its sockets cannot answer in time."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelpack.store import curl_events
from modelpack.store.curl_engine import CurlEngine, Exchange
from registry_process import Registry

HELD = 1100  # descriptors held open, so the engine's sockets are numbered past 1024


@pytest.fixture
def many_descriptors() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < HELD + 200:
        pytest.skip(f"this system allows {hard} open files per process, fewer than {HELD + 200}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, HELD + 200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(HELD)]
    try:
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_answers_arrive_on_sockets_numbered_past_1024(registry: Registry, many_descriptors: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(curl_events, "IDLE_POLL_MS", 120_000)
    engine = CurlEngine(False)
    try:
        for _ in range(3):
            exchange = Exchange("GET", f"{registry.url}/v2/", {}, None, 1 << 20, 5, None, 30, 1, "")
            answer = engine.start(exchange).result(timeout=60)  # an engine deaf to its sockets waits 120 s
            assert answer.status == 200
    finally:
        engine.close()


def test_a_streamed_push_and_pull_past_1024_descriptors(registry: Registry, many_descriptors: None,
                                                         tmp_path: Path) -> None:
    # The streamed upload's send waits for its socket to take more bytes (so Ctrl-C can stop it): with select(2)
    # that wait raised "filedescriptor out of range in select()" for a socket numbered past 1024 (a CI run's
    # test session), and every large push failed there.
    import modelpack as mp
    from modelpack.store.layout import LayoutStore
    from modelpack.store.options import ClientOptions

    model = tmp_path / "m"
    model.mkdir()
    (model / "big.safetensors").write_bytes(os.urandom(40 << 20))  # streamed beside its hash: over 32 MiB
    ref = registry.repo("many-fds") + ":1"
    options = ClientOptions(plain_http=True)
    assert mp.push(model, ref, options=options).copied >= 2
    mp.pull(ref, output=tmp_path / "out", options=options, store=LayoutStore(tmp_path / "store"))
    assert (tmp_path / "out" / "big.safetensors").read_bytes() == (model / "big.safetensors").read_bytes()
