"""Time bounds enforced where response bytes arrive: every socket read of a response is watched.

A read timeout bounds one recv(); a server that drips a byte every 20 s never trips it, and retries
multiply it. Here a response reads its socket through a `Watch`, which bounds two things: an absolute
deadline (the total time an operation may take, retries included) and a stall (fewer than `min_bytes`
arriving within `stall` seconds). Before each recv() the socket timeout is set to whichever ends first,
so a dripping status line or header is caught as surely as a dripping body.

The watch of the request being sent is a thread-local set with `watching()`; urllib3 builds
the response on the calling thread, and the response keeps its watch for later (streamed) reads
(`stream_pools`: the curl engine watches its own transfers).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

PROGRESS_BYTES = 16 * 1024  # "meaningful progress": this much within one stall window
CANCEL_POLL = 0.25  # seconds a read of a cancellable transfer waits before it looks at the cancel flag
SAY_WAITING_AFTER = 10.0  # seconds of a registry's silence before the user is told what is awaited
_current = threading.local()


class Expired(TimeoutError):
    """A watched read ran out of time; `kind` says which bound: "deadline" or "stall"."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"watched read: {kind} passed")
        self.kind = kind


class Watch:
    """The time bounds of one response. `deadline` is a time.monotonic() value or None (no total bound)."""

    def __init__(self, stall: float, deadline: float | None = None, min_bytes: int = PROGRESS_BYTES,
                 cancelled: threading.Event | None = None) -> None:
        self.stall = stall
        self.deadline = deadline
        self.min_bytes = min_bytes
        # Set when the transfer is abandoned (Ctrl-C): a read waiting on a silent server stops then,
        # not when the stall bound (up to 30 s) passes.
        self.cancelled = cancelled
        self.expired: str | None = None
        # Told (once per stall window) when no byte has come for SAY_WAITING_AFTER seconds, with whether
        # any of the response had: a stalled blob showed a frozen bar for the stall bound (30 s).
        self.on_quiet: Callable[[bool], None] | None = None
        self._pending = "stall"
        self._window_start = time.monotonic()
        self._window_bytes = 0
        self._last_byte = self._window_start
        self._started = False
        self._told = False

    def begin(self) -> None:
        """A response starts: the stall window opens now (an upload's body may have taken long)."""
        self._window_start = self._last_byte = time.monotonic()
        self._window_bytes = 0
        self._started = self._told = False

    def next_timeout(self) -> float:
        """Seconds the next recv() may wait; raises Expired when a bound has passed."""
        now = time.monotonic()
        limit, kind = self._window_start + self.stall - now, "stall"
        if self.deadline is not None and self.deadline - now < limit:
            limit, kind = self.deadline - now, "deadline"
        if limit <= 0:
            self.expired = kind
            raise Expired(kind)
        self._pending = kind
        return limit

    def timed_out(self) -> None:
        """The recv() waited the whole time next_timeout() allowed."""
        self.expired = self._pending

    def arrived(self, count: int) -> None:
        self._window_bytes += count
        self._last_byte = time.monotonic()
        self._started = True
        if self._window_bytes >= self.min_bytes:
            self._window_start = self._last_byte
            self._window_bytes = 0
            self._told = False

    def until_quiet_notice(self) -> float | None:
        """Seconds until the silence is worth telling `on_quiet` (None: nothing to tell)."""
        if self.on_quiet is None or self._told:
            return None
        return self._last_byte + SAY_WAITING_AFTER - time.monotonic()

    def quiet(self) -> None:
        """A recv() waited without a byte: tell `on_quiet` once the silence has lasted SAY_WAITING_AFTER."""
        if self.on_quiet is not None and not self._told and \
                time.monotonic() - self._last_byte >= SAY_WAITING_AFTER - 0.01:
            self._told = True
            self.on_quiet(self._started)


@contextlib.contextmanager
def watching(watch: Watch) -> Iterator[Watch]:
    """Responses created on this thread inside the block read under `watch`."""
    previous = getattr(_current, "watch", None)
    _current.watch = watch
    try:
        yield watch
    finally:
        _current.watch = previous


def current_watch() -> Watch | None:
    """The watch `watching` set on this thread, if any: a response created now reads under it."""
    return getattr(_current, "watch", None)
