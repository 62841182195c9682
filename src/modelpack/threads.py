"""Threads modelpack starts leave SIGINT and SIGTERM to the main thread.

The kernel delivers a process's signal to any thread that does not block it. Python runs handlers (and
raises KeyboardInterrupt) only in the main thread, and wakes it only when the signal reached it: a main
thread waiting on a lock with no timeout (a pool's shutdown, a condition) stays asleep when the signal
went to a worker or the libcurl thread, and Ctrl-C seemed to do nothing until that wait ended (seen:
a pull waiting out a registry's `Retry-After: 60`). Blocking the signals in every thread we start sends
them where Python handles them.

A thread is born with its creator's signal mask, so the creator blocks them while it starts one, and the
thread has them blocked from its first instruction. Threads that blocked them themselves once running (as
they did until stop 25) left a window, until they first held the GIL (milliseconds under load), in which
Ctrl-C could land in one, and the interrupted pull then hung (3 of 30 tries). The signals that arrive
meanwhile wait, and reach the main thread once it unblocks.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM blocked in the calling thread meanwhile: a thread started here is born so
    (also one a library starts, e.g. gRPC's server threads)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Pool(ThreadPoolExecutor):
    """Starts its workers (in `submit`) with the signals blocked."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with signals_blocked():
            return super().submit(fn, *args, **kwargs)


class _Thread(threading.Thread):
    def start(self) -> None:
        with signals_blocked():
            super().start()


def result_of(future: Future[T], every: float = 0.5) -> T:
    """`future.result()`, on the main thread waking every `every` seconds meanwhile. A signal that reaches
    the main thread just before it goes to sleep on the future's lock does not wake it: CPython looks for
    one before sleeping, not during (seen: a Ctrl-C during `sign`'s last write noticed only when the
    registry answered it, 30 s later, 1 run in 10). Waking bounds that to `every`. Other threads wait
    plainly: `wait()`'s waiter, event and callbacks cost ~40 us per small exchange of a transfer worker.

    Args:
        future: what to wait for.
        every: seconds between wake-ups.

    Returns:
        Its result.

    Raises:
        BaseException: what it raised, or KeyboardInterrupt meanwhile.
    """
    if threading.current_thread() is not threading.main_thread():
        return future.result()  # signals reach the main thread alone: no other has a reason to wake
    while not future.done():
        wait((future,), timeout=every)
    return future.result()


def worker_pool(max_workers: int, name: str = "") -> ThreadPoolExecutor:
    """A thread pool whose workers leave signals to the main thread."""
    return _Pool(max_workers=max_workers, thread_name_prefix=name)


def worker_thread(target: Callable[..., Any], *args: Any, name: str, daemon: bool = False) -> threading.Thread:
    """A thread (not started) running `target(*args)` with signals left to the main thread."""
    return _Thread(target=target, args=args, name=name, daemon=daemon)


def map_in_workers(fn: Callable[[T], R], items: Sequence[T], workers: int, name: str = "",
                   stop: threading.Event | None = None) -> list[R]:
    """`fn` of each item on `workers` threads, the results in the items' order: `Executor.map` without a
    Future per item (each holds a condition, a lock and a queue entry: ~1.7 KB, 14 MB for 8,000 files
    hashed, all made before the first one ran). The first failure (or a Ctrl-C in the caller) stops the
    workers taking more items, and is raised.

    Args:
        fn: what to run on each item.
        items: the items, in order.
        workers: threads at most (fewer for fewer items).
        name: the threads' name prefix.
        stop: set at the first failure or Ctrl-C, for an `fn` on a long item (a large file hashed) to
            look at and stop within it: the call returns only once every worker has.

    Returns:
        `fn(item)` for each item, in order.

    Raises:
        BaseException: the first exception `fn` raised.
    """
    results: list[Any] = [None] * len(items)
    taken = iter(range(len(items)))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work() -> None:
        while not failures:
            with lock:
                i = next(taken, None)
            if i is None:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as exc:
                failures.append(exc)
                if stop is not None:
                    stop.set()
                raise

    with worker_pool(max(1, workers), name) as pool:
        jobs = [pool.submit(work) for _ in range(min(max(1, workers), len(items)))]
        try:
            wait(jobs)
        except BaseException as exc:  # Ctrl-C: the workers end with the item they are on (or at `stop`)
            failures.append(exc)
            if stop is not None:
                stop.set()
            raise
    if failures:
        raise failures[0]
    return results
