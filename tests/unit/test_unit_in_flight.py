"""Small blobs under way on the curl engine are bounded in count and in bytes (each is held whole in
memory), a blob over the byte budget still goes alone, and `wait` returns only once all are done.

The engine is a stand-in here (what is under test is the slots): `begin_once` returns a future the test
completes, and completing it with True or False ends that transfer as its answer would."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from modelpack.oci.descriptor import Descriptor
from modelpack.store.quick_upload import BYTES_IN_FLIGHT, IN_FLIGHT, WAKE_AT, InFlight

WAIT = 5.0  # generous: only reached when the behaviour under test is broken


class _Client:
    def __init__(self) -> None:
        self.begun: list[Future[Any]] = []

    def begin_once(self, exchange: object) -> Future[Any]:
        future: Future[Any] = Future()
        self.begun.append(future)
        return future


class _Repo:
    def __init__(self) -> None:
        self.client = _Client()


def _flights() -> tuple[InFlight, list[Future[Any]]]:
    repo = _Repo()
    return InFlight(repo), repo.client.begun  # type: ignore[arg-type]


def _start(flights: InFlight, size: int, told: list[bool] | None = None) -> None:
    desc = Descriptor(mediaType="application/octet-stream", digest="sha256:" + "0" * 64, size=size)
    flights.start_transfer(desc, (told if told is not None else []).append, lambda: object(),
                           lambda answer, finish: finish(answer.result()))


def _start_in_thread(flights: InFlight, size: int) -> threading.Event:
    began = threading.Event()
    threading.Thread(target=lambda: (_start(flights, size), began.set()), daemon=True).start()
    return began


def test_a_blob_waits_while_the_byte_budget_is_spent() -> None:
    flights, begun = _flights()
    for _ in range(2):
        _start(flights, BYTES_IN_FLIGHT // 2)
    began = _start_in_thread(flights, 1)
    assert not began.wait(0.3), "a blob began past the byte budget"
    begun[0].set_result(True)
    assert began.wait(WAIT)


def test_a_blob_waits_while_every_slot_is_taken_and_is_woken_once_a_batch_ended() -> None:
    flights, begun = _flights()
    for _ in range(IN_FLIGHT):
        _start(flights, 1)
    began = _start_in_thread(flights, 1)
    assert not began.wait(0.3), "a blob began past IN_FLIGHT"
    for future in begun[:IN_FLIGHT - WAKE_AT - 1]:
        future.set_result(True)
    # Slots are free, but the waiter is woken only once no more than WAKE_AT are under way (not at
    # every end: each wake-up costs a thread switch and the GIL handed back and forth).
    assert not began.wait(0.3), "woken before WAKE_AT"
    begun[IN_FLIGHT - WAKE_AT - 1].set_result(True)
    assert began.wait(WAIT)


def test_a_blob_over_the_budget_goes_alone_and_wait_sees_it_through() -> None:
    flights, begun = _flights()
    told: list[bool] = []
    _start(flights, BYTES_IN_FLIGHT * 2, told)  # nothing under way: admitted
    began = _start_in_thread(flights, 1)
    assert not began.wait(0.3)
    begun[0].set_result(True)
    assert began.wait(WAIT) and told == [True]
    waited = threading.Event()
    threading.Thread(target=lambda: (flights.wait(), waited.set()), daemon=True).start()
    assert not waited.wait(0.3), "wait returned while a transfer was under way"
    begun[1].set_result(False)
    assert waited.wait(WAIT)


def test_an_exchange_that_cannot_be_made_is_handed_back_without_a_slot() -> None:
    flights, begun = _flights()
    told: list[bool] = []

    def broken() -> object:
        raise OSError("no engine")

    desc = Descriptor(mediaType="application/octet-stream", digest="sha256:" + "0" * 64, size=1)
    flights.start_transfer(desc, told.append, broken, lambda answer, finish: finish(True))
    assert told == [False] and begun == []
    flights.wait()  # returns at once: nothing was taken
