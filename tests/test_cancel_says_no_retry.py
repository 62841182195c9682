"""A transfer abandoned by Ctrl-C (or a failed sibling) ends without a word about a retry: the read it
cut short was not a registry that "did not answer within 30 s", and nothing is tried again. On a
terminal that line used to come before `error: interrupted`, a second of waiting reported as a timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from background_server import tcp_server
from faulty_server import FaultyServer
from modelpack.errors import TransportError
from modelpack.store.client import RegistryClient
from modelpack.store.options import ClientOptions


@pytest.fixture
def silent_registry() -> Iterator[tuple[str, list[socket.socket]]]:
    """A server that takes connections and never answers: what no real registry does on purpose, but
    a loaded one does for a while (the registry moving a large upload into place)."""
    held: list[socket.socket] = []
    try:
        with tcp_server(held.append) as address:
            yield address, held
    finally:
        for connection in held:
            connection.close()


def test_a_cancelled_read_is_not_reported_as_a_timeout_nor_retried(
        silent_registry: tuple[str, list[socket.socket]]) -> None:
    host, held = silent_registry
    said: list[str] = []
    client = RegistryClient(host, ClientOptions(plain_http=True, on_retry=said.append))
    ended: list[BaseException] = []

    def fetch() -> None:  # as a transfer's worker thread does
        try:
            client.send("GET", f"/v2/team/m/blobs/sha256:{'0' * 64}", stream=True, transfer=True)
        except BaseException as exc:  # what ended it is the point
            ended.append(exc)

    worker = threading.Thread(target=fetch)
    worker.start()
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:  # the request is on the wire, its answer awaited
        time.sleep(0.01)
    assert held, "the request never reached the server"
    client.cancel()  # what Ctrl-C does to the transfer's workers
    worker.join(10)
    assert not worker.is_alive()
    assert len(ended) == 1 and isinstance(ended[0], TransportError), ended
    assert "cancelled" in str(ended[0])
    assert said == []  # no "did not answer ... within 30 s; retrying in ..." line
    assert len(held) == 1  # and no second attempt
    client.close()


def test_a_refusal_met_after_the_cancel_is_not_announced_as_retried() -> None:
    # A 503 that arrives once the transfer is abandoned: "answered ... with HTTP 503; retrying in ..." was
    # printed, then the wait was cut short
    said: list[str] = []
    with FaultyServer(503, {"Retry-After": "1"}) as server:
        client = RegistryClient(server.host, ClientOptions(plain_http=True, on_retry=said.append))
        client.cancel()
        with pytest.raises(TransportError, match="cancelled"):
            client.send("GET", f"/v2/team/m/blobs/sha256:{'0' * 64}")
        client.close()
    assert said == []
    assert len(server.requests) == 1
