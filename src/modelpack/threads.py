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
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM blocked in the calling thread meanwhile: a thread started here is born so."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Pool(ThreadPoolExecutor):
    """Starts its workers (in `submit`) with the signals blocked."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with _signals_blocked():
            return super().submit(fn, *args, **kwargs)


class _Thread(threading.Thread):
    def start(self) -> None:
        with _signals_blocked():
            super().start()


def worker_pool(max_workers: int, name: str = "") -> ThreadPoolExecutor:
    """A thread pool whose workers leave signals to the main thread."""
    return _Pool(max_workers=max_workers, thread_name_prefix=name)


def worker_thread(target: Callable[..., Any], *args: Any, name: str, daemon: bool = False) -> threading.Thread:
    """A thread (not started) running `target(*args)` with signals left to the main thread."""
    return _Thread(target=target, args=args, name=name, daemon=daemon)
