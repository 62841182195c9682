"""Threads modelpack starts leave SIGINT and SIGTERM to the main thread.

The kernel delivers a process's signal to any thread that does not block it. Python runs handlers (and
raises KeyboardInterrupt) only in the main thread, and wakes it only when the signal reached it: a main
thread waiting on a lock with no timeout (a pool's shutdown, a condition) stays asleep when the signal
went to a worker or the libcurl thread, and Ctrl-C seemed to do nothing until that wait ended (seen:
a pull waiting out a registry's `Retry-After: 60`). Blocking the signals in every thread we start sends
them where Python handles them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def leave_signals_to_main() -> None:
    """Block SIGINT and SIGTERM in the calling thread (never call it in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


def worker_pool(max_workers: int, name: str = "") -> ThreadPoolExecutor:
    """A thread pool whose workers leave signals to the main thread."""
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name, initializer=leave_signals_to_main)


def worker_thread(target: Callable[..., Any], *args: Any, name: str, daemon: bool = False) -> threading.Thread:
    """A thread (not started) running `target(*args)` with signals left to the main thread."""

    def run() -> None:
        leave_signals_to_main()
        target(*args)

    return threading.Thread(target=run, name=name, daemon=daemon)
