"""Running `serve` in the foreground: its own log lines, and a clean stop on SIGTERM or SIGINT.

A stop signal (Kubernetes sends SIGTERM, a terminal Ctrl-C sends SIGINT) stops accepting connections,
lets the requests in flight finish (up to a bound), closes the server and returns normally: the process
exits 0, as a service manager expects of a requested stop.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from modelpack.serve.limits import BoundedHTTPServer

log = logging.getLogger("modelpack.serve")


def configure_logging() -> None:
    """The server's request and lifecycle lines on stderr, at INFO. Only `modelpack.serve`'s: the
    registry client's retry lines stay for a terminal or `-v`, as in every other command."""
    if not any(getattr(h, "_modelpack_serve", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._modelpack_serve = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def run(server: BoundedHTTPServer, drain_timeout: float, ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then stop cleanly (see the module docstring).

    Args:
        server: a server from `modelpack.serve.server.make_server`.
        drain_timeout: seconds to wait for requests in flight once a stop is asked for.
        ready: called once the stop signals are handled (a "serving on" line: a supervisor that sees
            it may stop the server cleanly from then on).
    """
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log.info("%s received: finishing the requests in flight, then stopping", signal.Signals(signum).name)
        # shutdown() waits for serve_forever() to return, which runs in this (the main) thread.
        threading.Thread(target=server.shutdown, name="modelpack-serve-stop", daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if ready is not None:
            ready()
        server.serve_forever()
        if not server.drain(drain_timeout):
            log.warning("stopping with requests still in flight after %g s", drain_timeout)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
    log.info("stopped")
