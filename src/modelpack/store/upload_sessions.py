"""Upload sessions a push opened on a registry and has not completed, cancelled when the push fails or is
interrupted.

A Ctrl-C'd (or SIGTERM'd) push left each upload under way open on the registry, its bytes kept until the
registry's own expiry (Distribution's: a week). The distribution spec lets a client cancel one with a
DELETE of its Location; on an interruption (or a failure) each session still open is cancelled so, all at once, within
a short total deadline: the command never waits on a registry that does not answer.

Each session is known by its URL without the query; its last Location is kept, as registries may carry state in it
(Distribution's `_state` names the bytes received: a Location older than the last bytes it took is
refused, 404 BLOB_UPLOAD_INVALID, and that session stays until it expires).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelpack.store.client import RegistryClient
    from modelpack.store.curl_engine import Answer

log = logging.getLogger("modelpack.registry")
CANCEL_DEADLINE = 2.0  # seconds an interrupted command spends cancelling its upload sessions, in all


def _key(location: str) -> str:
    # Not parsed: a Location that does not parse is refused where it is requested (given_urls), not here.
    return location.split("?", 1)[0].split("#", 1)[0]


class UploadSessions:
    """The upload sessions of one repository that are open: opened, not yet completed or cancelled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, str] = {}  # URL path -> its latest Location

    def opened(self, location: str) -> None:
        """A session started (or moved on: a later answer's Location replaces the earlier one)."""
        if location:
            with self._lock:
                self._open[_key(location)] = location

    def closed(self, location: str) -> None:
        """A session completed (the blob stored) or cancelled."""
        with self._lock:
            self._open.pop(_key(location), None)

    def take(self) -> list[str]:
        """The Locations of every open session, forgotten here."""
        with self._lock:
            taken, self._open = list(self._open.values()), {}
        return taken

    def cancel_all(self, client: RegistryClient, deadline: float = CANCEL_DEADLINE) -> None:
        """DELETE every open session at once on `client`'s curl engine, waiting `deadline` seconds at most
        in all (a token the DELETE needs included); what is not answered by then is left, for the registry
        to expire. No retry and no redirect; credentials go only where `prepare_once` sends them: the
        registry's own host, never a Location elsewhere (see HostAuth.may_authenticate)."""
        locations = self.take()
        if not locations:
            return
        from modelpack.threads import worker_thread

        ends = time.monotonic() + deadline
        # A thread of its own, not waited for past the deadline: a token service may be slow to answer too.
        cancelling = worker_thread(_cancel, client, locations, ends, name="modelpack-cancel", daemon=True)
        cancelling.start()
        cancelling.join(max(0.0, ends - time.monotonic()))


def _cancel(client: RegistryClient, locations: list[str], ends: float) -> None:
    started: list[Future[Answer]] = []
    for location in locations:
        left = ends - time.monotonic()
        if left <= 0:
            return
        try:
            exchange = client.prepare_once("DELETE", location, {}, None)
        except Exception as exc:  # a Location it refuses, a token refused: that session is left to expire
            log.debug("upload not cancelled: %s", type(exc).__name__)
            continue
        started.append(client.begin_once(replace(exchange, connect=min(exchange.connect, left), total=left)))
    for future in started:
        with contextlib.suppress(Exception):
            future.result(timeout=max(0.0, ends - time.monotonic()))
