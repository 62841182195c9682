"""Threads modelpack starts block SIGINT and SIGTERM, so a Ctrl-C always reaches the main thread (where
Python raises KeyboardInterrupt) instead of waking a worker and leaving the main thread asleep."""

from __future__ import annotations

import signal

from modelpack.threads import worker_pool, worker_thread


def _blocked() -> set[int]:
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))


def test_pool_workers_and_threads_block_the_signals_the_main_thread_handles() -> None:
    # Born so: nothing else blocks them (blocking them once running left a window in which a Ctrl-C could
    # land in a new thread: an interrupted pull hung 3 times in 30).
    assert signal.SIGINT not in _blocked()  # the main thread itself is untouched
    with worker_pool(2, "t") as pool:
        in_worker = pool.submit(_blocked).result()
    assert {signal.SIGINT, signal.SIGTERM} <= in_worker
    seen: list[set[int]] = []
    thread = worker_thread(lambda: seen.append(_blocked()), name="t")
    thread.start()
    thread.join()
    assert {signal.SIGINT, signal.SIGTERM} <= seen[0]
    assert signal.SIGINT not in _blocked()



def test_result_of_gives_what_the_future_gives_after_waking_meanwhile() -> None:
    import threading
    from concurrent.futures import Future

    import pytest

    from modelpack.threads import result_of

    later: Future[int] = Future()
    threading.Timer(0.3, lambda: later.set_result(7)).start()
    assert result_of(later, every=0.05) == 7  # several wake-ups before it came
    failed: Future[int] = Future()
    failed.set_exception(OSError("cut"))
    with pytest.raises(OSError, match="cut"):
        result_of(failed)


def test_map_in_workers_tells_a_long_item_to_stop_at_the_first_failure() -> None:
    # A worker on a large file (pack hashing 50 GB) went on to its end after another file failed or a
    # Ctrl-C: the call returned, and the command exited, only then. `stop` lets it end within its item.
    import threading

    import pytest

    from modelpack.threads import map_in_workers

    stop = threading.Event()
    seen: list[str] = []

    def work(item: str) -> str:
        if item == "bad":
            raise OSError("unreadable")
        seen.append("stopped" if stop.wait(30) else "ran to its end")  # (the long item: 30 s of it at most)
        return item

    with pytest.raises(OSError, match="unreadable"):
        map_in_workers(work, ["long", "bad"], 2, "t", stop=stop)
    assert seen == ["stopped"]
