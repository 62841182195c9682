"""Small blobs under way on the curl engine are bounded in count and in bytes (each is held whole in
memory), a blob over the byte budget still goes alone, and `wait` returns only once all are done."""

from __future__ import annotations

import threading
from collections.abc import Callable

from modelpack.store.quick_upload import BYTES_IN_FLIGHT, IN_FLIGHT, InFlight

WAIT = 5.0  # generous: only reached when the behaviour under test is broken


def _begin_in_thread(flights: InFlight, size: int) -> tuple[threading.Event, list[Callable[[bool], None]]]:
    began, finish = threading.Event(), []
    thread = threading.Thread(target=lambda: (finish.append(flights.begin(lambda ok: None, size)), began.set()),
                              daemon=True)
    thread.start()
    return began, finish


def test_a_blob_waits_while_the_byte_budget_is_spent() -> None:
    flights = InFlight()
    finishes = [flights.begin(lambda ok: None, BYTES_IN_FLIGHT // 2) for _ in range(2)]
    began, _ = _begin_in_thread(flights, 1)
    assert not began.wait(0.3), "a blob began past the byte budget"
    finishes[0](True)
    assert began.wait(WAIT)


def test_a_blob_waits_while_every_slot_is_taken() -> None:
    flights = InFlight()
    finishes = [flights.begin(lambda ok: None, 1) for _ in range(IN_FLIGHT)]
    began, _ = _begin_in_thread(flights, 1)
    assert not began.wait(0.3), "a blob began past IN_FLIGHT"
    finishes[-1](True)
    assert began.wait(WAIT)


def test_a_blob_over_the_budget_goes_alone_and_wait_sees_it_through() -> None:
    flights = InFlight()
    told: list[bool] = []
    finish = flights.begin(told.append, BYTES_IN_FLIGHT * 2)  # nothing under way: admitted
    began, later = _begin_in_thread(flights, 1)
    assert not began.wait(0.3)
    finish(True)
    assert began.wait(WAIT) and told == [True]
    waited = threading.Event()
    threading.Thread(target=lambda: (flights.wait(), waited.set()), daemon=True).start()
    assert not waited.wait(0.3), "wait returned while a transfer was under way"
    later[0](False)
    assert waited.wait(WAIT)
