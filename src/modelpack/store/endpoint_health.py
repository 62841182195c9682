"""Which registries.conf mirrors could not be reached, kept for every repository one set of `ClientOptions`
opens (one command): a dead mirror costs one connect timeout per command, not one per repository (`report`
reads the model, then its signatures and tags, each through a repository of its own) nor one per thread
(`ls --key` reads 8 versions at once). Until a mirror has answered once, one request at a time finds out
whether it answers; the others wait for that answer instead of each waiting out a timeout of their own.
A mirror found dead is asked again after `RETRY_AFTER` seconds, for what runs that long (`modelpack ui`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
RETRY_AFTER = 60.0


class FoundDead(Exception):
    """Another request found the host unreachable while this one waited to ask it."""


class EndpointHealth:
    """Dead and answering endpoints by host; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dead: dict[str, float] = {}  # host -> when it was found unreachable (time.monotonic())
        self._answered: set[str] = set()
        self._probes: dict[str, threading.Lock] = {}

    def dead(self, host: str) -> bool:
        """Whether `host` was found unreachable in the last `RETRY_AFTER` seconds."""
        with self._lock:
            since = self._dead.get(host)
            return since is not None and time.monotonic() - since < RETRY_AFTER

    def mark_dead(self, host: str) -> None:
        with self._lock:
            self._dead[host] = time.monotonic()
            self._answered.discard(host)

    def ask(self, host: str, call: Callable[[], T], unreachable: Callable[[Exception], bool]) -> T:
        """`call()`, a request to `host`; one at a time until the host has answered once.

        Args:
            host: the endpoint's host.
            call: the request.
            unreachable: whether an exception `call` raised means the host cannot be reached (it is then
                marked dead; any other answer counts as one).

        Returns:
            What `call` returns.

        Raises:
            FoundDead: the host was found unreachable by another request while this one waited.
            Exception: what `call` raised.
        """
        with self._lock:
            probe = None if host in self._answered else self._probes.setdefault(host, threading.Lock())
        if probe is None:
            return self._call(host, call, unreachable)
        with probe:
            if self.dead(host):
                raise FoundDead(host)
            return self._call(host, call, unreachable)

    def _call(self, host: str, call: Callable[[], T], unreachable: Callable[[Exception], bool]) -> T:
        try:
            result = call()
        except Exception as exc:
            if unreachable(exc):
                self.mark_dead(host)
            else:
                self._answered_by(host)
            raise
        self._answered_by(host)
        return result

    def _answered_by(self, host: str) -> None:
        with self._lock:
            self._answered.add(host)
