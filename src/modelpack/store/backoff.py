"""When a registry request that failed is tried again, and how long the client waits first: exponential
backoff with jitter, `Retry-After` honoured, the request's deadline respected, and no wait (nor a
"retrying in ..." line) once the transfer is being abandoned (Ctrl-C, a failed sibling).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time

from modelpack import advice
from modelpack.errors import TransportError
from modelpack.store.hostauth import host_of
from modelpack.store.messages import connection_message, path_of, retry_limit, seconds, who
from modelpack.store.not_http import final_failure
from modelpack.store.options import ClientOptions
from modelpack.store.watch import Watch
from modelpack.store.wire_errors import connect_timed_out, timed_out

log = logging.getLogger("modelpack.registry")


class Backoff:
    """The retry decisions of the client of `host` (see `RegistryClient.send`)."""

    def __init__(self, host: str, options: ClientOptions, cancelled: threading.Event) -> None:
        self._host = host
        self._options = options
        self._cancelled = cancelled

    def after_failure(self, method: str, url: str, exc: Exception, watch: Watch, attempt: int,
                      retries: int, deadline: float | None, refusal: Exception | None) -> None:
        """Decide about a failed attempt: return to retry, or raise the error that ends it: when the time
        runs out while an answer (`refusal`, a 503) is being retried, that answer is the news, not that
        the last attempt, begun with little time left, went unanswered.

        Raises:
            TransportError: no retry is left, or the transfer was cancelled.
            Exception: `refusal`, the last answer retried, when it is the news.
        """
        if self._cancelled.is_set():  # Ctrl-C ended the read: no retry, and no "did not answer within 120 s"
            raise TransportError(f"{self._host}: transfer cancelled") from None
        final = final_failure(host_of(url), f"{method} {path_of(url)}", exc, self._options.plain_http)
        if final is not None:
            raise final from None  # the same answer again: not retried, and no cut connection
        text = str(exc).lower()
        # No connection at all is no slow answer: its bound is the connect timeout (3 s for a mirror), not --timeout.
        connecting = connect_timed_out(exc)
        expired = not connecting and (watch.expired is not None or timed_out(exc) or "timed out" in text)
        if connecting:
            why = f"cannot connect to {host_of(url)}: no answer within {seconds(self._options.connect_timeout)}"
        elif expired:
            why = f"{who(url)} did not answer {method} {path_of(url)} within {seconds(watch.stall)}"
        else:
            why = f"{connection_message(host_of(url), exc)} during {method} {path_of(url)}"
        spent = watch.expired != "deadline" and attempt > retry_limit(exc, retries)
        if not spent and watch.expired != "deadline" and self.wait(attempt, retries, None, deadline, why):
            return
        if refusal is not None and not spent:
            raise refusal from None
        if connecting:
            raise TransportError(why) from None
        if expired:
            # Its attempts spent (a mirror has one), the last one waited its stall, not --timeout; and
            # --timeout lengthens a stall only where it bounds it (a stall is at most read_timeout).
            total = watch.stall if spent or deadline is None else self._options.timeout
            longer = total == self._options.timeout or watch.stall < self._options.read_timeout
            raise TransportError(f"{who(url)} did not answer {method} {path_of(url)} within {seconds(total)}",
                                 advice=advice.longer_timeout(self._options.timeout) if longer else None) from None
        raise TransportError(connection_message(host_of(url), exc)) from None

    def wait(self, attempt: int, retries: int, retry_after: str | None, deadline: float | None,
             why: str) -> bool:
        """Sleep before the next attempt and return True, or False when the deadline leaves no time.

        Raises:
            TransportError: the transfer was cancelled (before or while waiting).
        """
        if self._cancelled.is_set():  # abandoned (Ctrl-C): no "retrying in ..." line for what will not be retried
            raise TransportError(f"{self._host}: transfer cancelled")
        options = self._options
        delay = min(options.max_backoff, options.backoff * 2 ** (attempt - 1))
        delay = random.uniform(delay / 2, delay)  # jitter, so parallel workers do not retry in lockstep
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date instead of seconds: keep our own delay
                delay = min(max(float(retry_after), 0.0), 60.0)
        if deadline is not None and time.monotonic() + delay >= deadline:
            return False
        message = f"{why}; retrying in {delay:.1f} s (attempt {attempt + 1} of {retries + 1})"
        if options.on_retry is not None:
            options.on_retry(message)
        else:
            log.info("%s", message)
        if self._cancelled.wait(delay):
            raise TransportError(f"{self._host}: cancelled while waiting to retry")
        return True

