"""Limits of the inference server, and the ASGI middleware that enforces those the HTTP layer does not.

- at most `max_connections` requests with a body (inference) are handled at once; one more gets a 503
  `{"error": ...}` at once (GET and HEAD, e.g. health probes and /metrics, are not counted);
- a request body over `max_request_bytes` gets a 413 before any of it is read (declared length) or as
  soon as it passes the limit (chunked);
- a request's body must arrive within `request_timeout` seconds of its headers (408 otherwise); the
  headers themselves are bounded by the connection's deadline (`http_protocol.DeadlineH11Protocol`);
- bodies read and parsed at once total at most `max_inflight_bytes` (JSON parsing costs ~10-25 times the
  body size in Python objects); a request that cannot get its share in time gets a 503.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from modelpack.errors import UsageError
from modelpack.store.options import TIMEOUT_RANGE, usable_timeout

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class ServerLimits:
    """Limits of the inference server; the defaults suit one model on a small machine."""

    max_connections: int = 64
    request_timeout: float = 30.0
    max_request_bytes: int = 16 * 1024 * 1024
    max_inflight_bytes: int | None = None  # default: twice max_request_bytes

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_request_bytes < 1:
            raise UsageError("server limits must be positive")
        if not usable_timeout(self.request_timeout):
            raise UsageError(f"request_timeout={self.request_timeout!r} {TIMEOUT_RANGE}")

    @property
    def inflight_bytes(self) -> int:
        return max(self.max_inflight_bytes or 2 * self.max_request_bytes, self.max_request_bytes)


def parse_size(text: str) -> int:
    """Bytes from `16777216`, `16M`, `16MiB`, `512K` (binary units).

    Raises:
        UsageError: not a positive size.
    """
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match or int(match.group(1)) < 1:
        raise UsageError(f"{text!r}: expected a size such as 16M or 1048576")
    return int(match.group(1)) * 1024 ** " KMG".index(match.group(2).upper() or " ")



class ByteBudget:
    """Bytes that request bodies may hold at once; callers wait (on the event loop) for their share.

    All calls run on one event loop, so taking free bytes when nobody waits needs no lock: the common
    case costs no task and no loop iteration (asyncio.wait_for makes a task for each call).
    """

    def __init__(self, total: int) -> None:
        self._free = total
        self._waiting = 0
        self._ready: asyncio.Condition | None = None  # made on the loop that uses it

    async def reserve(self, size: int, timeout: float) -> bool:
        """Take `size` bytes, waiting up to `timeout` seconds; False when they did not free in time."""
        if not self._waiting and self._free >= size:
            self._free -= size
            return True
        if self._ready is None:
            self._ready = asyncio.Condition()
        self._waiting += 1
        try:
            async with self._ready:
                try:
                    await asyncio.wait_for(self._ready.wait_for(lambda: self._free >= size), timeout)
                except asyncio.TimeoutError:
                    return False
                self._free -= size
                return True
        finally:
            self._waiting -= 1

    async def release(self, size: int) -> None:
        self._free += size
        if self._waiting and self._ready is not None:
            async with self._ready:
                self._ready.notify_all()


class LimitsMiddleware:
    """ASGI middleware enforcing `ServerLimits` (see the module docstring); refusals are JSON."""

    def __init__(self, app: ASGIApp, limits: ServerLimits) -> None:
        self.app, self.limits = app, limits
        self.budget = ByteBudget(limits.inflight_bytes)
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            # Bodiless and answered at once: health probes and /metrics still answer under load.
            return await self.app(scope, receive, send)
        if self.active >= self.limits.max_connections:
            return await refuse(send, 503, "the server is busy: too many requests at once; retry later",
                                [(b"retry-after", b"1")])
        self.active += 1
        try:
            await self._bounded(scope, receive, send)
        finally:
            self.active -= 1

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        cap = self.limits.max_request_bytes
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            return await refuse(send, 413 if declared.isdigit() else 400,
                                f"request body of {declared[:40].decode(errors='replace')} bytes is over the "
                                f"limit of {cap} bytes" if declared.isdigit() else "bad Content-Length")
        if declared == b"0":
            return await self.app(scope, receive, send)
        share = int(declared) if declared is not None else cap
        deadline = asyncio.get_running_loop().time() + self.limits.request_timeout
        if not await self.budget.reserve(share, self.limits.request_timeout):
            return await refuse(send, 503, "the server is busy parsing other requests; retry later")
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            try:
                message = await _by(receive(), deadline)
            except asyncio.TimeoutError:
                raise RequestRefused(408, f"the request body did not arrive within {self.limits.request_timeout:g} s") \
                    from None
            received += len(message.get("body", b""))
            if received > cap:
                raise RequestRefused(413, f"request body is over the limit of {cap} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except RequestRefused as refusal:
            if started:
                raise
            await refuse(send, refusal.status, refusal.message)
        finally:
            await self.budget.release(share)


async def _by(receiving: Awaitable[Message], deadline: float) -> Message:
    """`await receiving`, or asyncio.TimeoutError at `deadline` (the loop's clock). From Python 3.11 a
    timer on the running task, not a task of its own per body chunk."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout_at(deadline):
            return await receiving
    return await asyncio.wait_for(receiving, max(deadline - asyncio.get_running_loop().time(), 0.001))


class RequestRefused(Exception):
    """A request body refused while it is read (too slow: 408, too large: 413); the app answers it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def refuse(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete JSON error response `{"error": message}`."""
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
