"""Waiting for descriptors to be ready with poll(2), never select(2): select cannot watch a descriptor numbered
FD_SETSIZE (1024) or above (Python raises ValueError), and a long-lived process (a library user, a server, a test
session) holds that many. (The curl engine's own loop is store/curl_events.)"""

from __future__ import annotations

import select
from collections.abc import Iterable


def ready(read: Iterable[int] = (), write: Iterable[int] = (), timeout: float | None = None) -> set[int]:
    """The descriptors among `read` and `write` that are ready (or closed, or in error) within `timeout`.

    Args:
        read: descriptors to read from.
        write: descriptors to write to.
        timeout: seconds to wait at most; None waits until one is ready.

    Returns:
        Those ready; empty when the time ran out.
    """
    poller = select.poll()
    for fd in read:
        poller.register(fd, select.POLLIN)
    for fd in write:
        poller.register(fd, select.POLLOUT)
    return {fd for fd, _ in poller.poll(None if timeout is None else max(0, round(timeout * 1000)))}
