"""Running `serve` in the foreground: its own log lines, and a clean stop on SIGTERM or SIGINT.

A stop signal (Kubernetes sends SIGTERM, a terminal Ctrl-C sends SIGINT) stops accepting connections,
lets the requests in flight finish (up to a bound), closes the server and returns normally: the process
exits 0, as a service manager expects of a requested stop.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from modelpack.cli.escape import EscapingFormatter
from modelpack.serve.http_server import InferenceServer

log = logging.getLogger("modelpack.serve")


def configure_logging() -> None:
    """The server's request and lifecycle lines on stderr, at INFO. Only `modelpack.serve`'s: the
    registry client's retry lines stay for a terminal or `-v`, as in every other command."""
    if not any(getattr(h, "_modelpack_serve", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(EscapingFormatter("%(message)s"))  # an error may quote what a client sent
        handler._modelpack_serve = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def run(server: InferenceServer, ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then stop cleanly (see the module docstring).

    Args:
        server: a server from `modelpack.serve.server.make_server`.
        ready: called once the server accepts connections and the stop signals are handled (a
            "serving on" line: a supervisor that sees it may stop the server cleanly from then on).
    """
    try:
        server.serve_forever(ready)
    finally:
        server.server_close()
    log.info("stopped")
