"""The curl engine in a process holding more than FD_SETSIZE (1024) descriptors: its connections are numbered
past 1024, which `curl_multi_fdset` (select(2)'s sets) leaves out, so the engine slept through every answer
until its idle poll ran out (a second each, seen in a long test session). Here the idle poll is made
longer than the wait for the answers: an engine not watching its sockets cannot answer in time."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator

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
