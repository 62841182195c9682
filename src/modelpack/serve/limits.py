"""Limits of the inference server, and the ASGI middleware that enforces those the HTTP layer does not.

- at most `max_connections` requests with a body (inference) are handled at once, counted from when the
  body has arrived; one more gets a 503 `{"error": ...}` at once (GET and HEAD, e.g. health probes and
  /metrics, are not counted). A request still arriving holds no slot, so clients that send headers and
  then nothing (or a trickle) cannot take every slot;
- a request body over `max_request_bytes` gets a 413 before any of it is read (declared length) or as
  soon as it passes the limit (chunked);
- a request's body must arrive within `request_timeout` seconds of its headers (408 otherwise); the
  headers themselves are bounded by the connection's deadline (`http_protocols`);
- bodies received and parsed at once total at most `max_inflight_bytes`, counted as their bytes arrive (a
  declared length never sent holds nothing), a byte of JSON as `JSON_FACTOR` (what parsing it costs) and
  a body at most as the whole budget (the largest body runs alone); a body whose next bytes do not fit
  gets a 503 (the rest is read and dropped, so that a client still sending reads it). They are held
  until the response has been written but for its last `RESPONSE_PIECE` (a response can be several times
  its request), within the connection's deadline (`http_protocols`): clients that do not read their
  answers cannot pile them up in memory."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
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
# A response is written in pieces of this size, each once the client has taken the previous one.
RESPONSE_PIECE = 256 * 1024
# What a byte of a JSON body costs once parsed (Python lists of numbers, then numpy arrays, with the body):
# 16 MiB of `0,` took json.loads +80 MiB and the array +48 more. Bytes of binary tensors cost one.
JSON_FACTOR = 8
# The largest --max-request-size: a body is held whole (twice that may be in flight), a JSON one costs about
# JSON_FACTOR times its bytes once parsed (8 GiB for 1 GiB), and gRPC cannot take a message of 2 GiB or more.
MAX_REQUEST_LIMIT = 1024 ** 3
# A gRPC message's time to arrive beyond what its bytes take at the minimum rate (the call's setup, a busy CPU).
RECEIVE_GRACE = 1.0


@dataclass(frozen=True)
class ServerLimits:
    """Limits of the inference server; the defaults suit one model on a small machine."""

    max_connections: int = 64
    request_timeout: float = 30.0
    max_request_bytes: int = 16 * 1024 * 1024
    max_inflight_bytes: int | None = None  # default: twice max_request_bytes
    min_receive_rate: int = 1024 * 1024  # bytes/s a gRPC message must arrive at (see receive_timeout)

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_request_bytes < 1 or self.min_receive_rate < 1:
            raise UsageError("server limits must be positive")
        if self.max_request_bytes > MAX_REQUEST_LIMIT:
            raise UsageError(f"max_request_bytes={self.max_request_bytes} is above {MAX_REQUEST_LIMIT} (1 GiB): a "
                             "body is held whole in memory and a JSON one costs about 8 times its size parsed")
        if not usable_timeout(self.request_timeout):
            raise UsageError(f"request_timeout={self.request_timeout!r} {TIMEOUT_RANGE}")

    @property
    def inflight_bytes(self) -> int:
        return max(self.max_inflight_bytes or 2 * self.max_request_bytes, self.max_request_bytes)

    @property
    def receive_timeout(self) -> float:
        """Seconds a gRPC message has once its turn to be received came (`grpc_receive`): what the largest
        takes at `min_receive_rate`, and `RECEIVE_GRACE` more, at most `request_timeout`."""
        return min(self.request_timeout, RECEIVE_GRACE + self.max_request_bytes / self.min_receive_rate)


def parse_size(text: str, at_most: int | None = None) -> int:
    """Bytes from `16777216`, `16M`, `16MiB`, `512K` (binary units).

    Args:
        text: the size as written.
        at_most: the largest size taken, if any.

    Raises:
        UsageError: not a positive size, or above `at_most`.
    """
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match or int(match.group(1)) < 1:
        raise UsageError(f"{text!r}: expected a size such as 16M or 1048576")
    size = int(match.group(1)) * 1024 ** " KMG".index(match.group(2).upper() or " ")
    if at_most is not None and size > at_most:
        raise UsageError(f"{text!r} is above {_written(at_most)}, the largest taken")
    return size


def _written(size: int) -> str:
    """`size` as parse_size reads it: in the largest binary unit that divides it."""
    for unit, power in (("GiB", 3), ("MiB", 2), ("KiB", 1)):
        if size % 1024 ** power == 0:
            return f"{size // 1024 ** power}{unit}"
    return str(size)


class ByteBudget:
    """Bytes that request bodies (and gRPC messages) may hold at once, taken as they arrive and given back
    with the response.

    Shared by the event loop and gRPC's threads, hence the lock. Nobody waits for bytes: a request holding
    part of its body while waiting for more could wait on another doing the same until both time out.
    """

    def __init__(self, total: int) -> None:
        self.total = self.free = total
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        """Take `size` bytes; False (nothing taken) when fewer are free."""
        with self._lock:
            if size > self.free:
                return False
            self.free -= size
            return True

    def release(self, size: int) -> None:
        with self._lock:
            self.free += size


class LimitsMiddleware:
    """ASGI middleware enforcing `ServerLimits` (see the module docstring); refusals are JSON.

    What a client controls holds nothing it has not sent: a request takes its slot (of `max_connections`)
    once its body has arrived, and the byte budget as its bytes arrive. Headers that declare a body never
    sent, or a body trickled in, cost a connection and the bytes received, until the request's deadline.
    """

    def __init__(self, app: ASGIApp, limits: ServerLimits, budget: ByteBudget | None = None) -> None:
        """Args:
            app: the application within the limits.
            limits: what to enforce.
            budget: the byte budget, shared with gRPC (default: `limits.inflight_bytes` of its own).
        """
        self.app, self.limits = app, limits
        self.budget = budget or ByteBudget(limits.inflight_bytes)
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            # Bodiless and answered at once: health probes and /metrics still answer under load.
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        cap = self.limits.max_request_bytes
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            return await refuse(send, 413 if declared.isdigit() else 400,
                                f"request body of {declared[:40].decode(errors='replace')} bytes is over the "
                                f"limit of {cap} bytes" if declared.isdigit() else "bad Content-Length")
        deadline = asyncio.get_running_loop().time() + self.limits.request_timeout
        received = 0  # bytes of the body received
        charged = 0  # taken from the budget for them
        json_part = _json_length(headers)
        handling = False  # holds a slot
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, handling, charged
            try:
                message = await _by(receive(), deadline)
            except asyncio.TimeoutError:
                raise RequestRefused(408, f"the request body did not arrive within {self.limits.request_timeout:g} s") \
                    from None
            if message["type"] != "http.request":
                return message
            size = len(message.get("body", b""))
            if received + size > cap:
                raise RequestRefused(413, f"request body is over the limit of {cap} bytes")
            # JSON costs JSON_FACTOR times its bytes; a body's charge is at most the whole budget, so that
            # the largest body still runs when it is alone.
            charge = min(JSON_FACTOR * min(received + size, json_part) + max(received + size - json_part, 0),
                         self.budget.total) - charged
            if not self.budget.take(charge):
                # Give its bytes back (the others go on), then read the rest and drop it, so that a client
                # still sending reads the 503 (closing on unread bytes would reset the connection under it).
                self.budget.release(charged)
                more, dropped, received, charged = message.get("more_body", False), received + size, 0, 0
                while more and dropped <= cap:
                    try:
                        message = await _by(receive(), deadline)
                    except asyncio.TimeoutError:
                        break
                    more = message["type"] == "http.request" and message.get("more_body", False)
                    dropped += len(message.get("body", b""))
                raise RequestRefused(503, "the server is busy: the bodies of other requests fill its memory "
                                          "budget; retry later", [(b"retry-after", b"1")])
            received += size
            charged += charge
            if not message.get("more_body", False) and not handling:
                if self.active >= self.limits.max_connections:
                    raise RequestRefused(503, "the server is busy: too many requests at once; retry later",
                                         [(b"retry-after", b"1")])
                self.active += 1
                handling = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            body = message.get("body", b"")
            if message["type"] != "http.response.body" or len(body) <= RESPONSE_PIECE:
                return await send(message)
            # In pieces, each written once the client has taken the one before (uvicorn waits while the
            # connection's buffer is full): the request's budget is held until the last is written, and
            # what a client does not read stays bounded by the piece, not the response's size.
            more = message.get("more_body", False)
            for start in range(0, len(body), RESPONSE_PIECE):
                await send({"type": "http.response.body", "body": body[start:start + RESPONSE_PIECE],
                            "more_body": more or start + RESPONSE_PIECE < len(body)})

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except RequestRefused as refusal:
            if started:
                raise
            await refuse(send, refusal.status, refusal.message, refusal.headers)
        finally:
            self.budget.release(charged)
            if handling:
                self.active -= 1


def _json_length(headers: dict[bytes, bytes]) -> int:
    """How many of a body's bytes are JSON: the binary tensor extension's header says; otherwise all."""
    declared = re.fullmatch(rb"\s*(\d{1,18})\s*", headers.get(b"inference-header-content-length", b""))
    return int(declared.group(1)) if declared else sys.maxsize  # a bad one is the app's 400


async def _by(receiving: Awaitable[Message], deadline: float) -> Message:
    """`await receiving`, or asyncio.TimeoutError at `deadline` (the loop's clock). From Python 3.11 a
    timer on the running task, not a task of its own per body chunk."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout_at(deadline):
            return await receiving
    return await asyncio.wait_for(receiving, max(deadline - asyncio.get_running_loop().time(), 0.001))


class RequestRefused(Exception):
    """A request body refused while it is read (too slow: 408, too large: 413, too many bytes or requests at
    once: 503); the app answers it."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or []


async def refuse(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete JSON error response `{"error": message}`."""
    await send_json(send, status, {"error": message}, headers)


async def send_json(send: Send, status: int, content: dict[str, Any],
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete JSON response of `content`, with `headers` added."""
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
