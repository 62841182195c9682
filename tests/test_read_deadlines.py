"""A registry that takes a request and stays silent holds a read no longer than its bounds: the curl engine's
stall bound fires while another exchange runs alongside."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hostile_registry import HostileRegistry
from modelpack.store.curl_engine import CurlEngine, CurlFailure, Exchange
from registry_process import Registry


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
