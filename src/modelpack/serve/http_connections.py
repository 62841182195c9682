"""What `serve`'s HTTP connections share beyond one request: a close that lets the client read a refusal,
and room kept for new connections when file descriptors run short.

- A response that closes its connection while the request is still arriving (a 413 before the body, a
  431 or 400 mid-head, or `Connection: close` on any refusal) shuts down the sending side and reads and
  drops what the client still sends, until it hangs up or the connection's deadline passes. Closing at
  once with unread bytes makes the kernel send a reset, and a client still sending (urllib, requests)
  saw "connection reset" instead of the answer.
- Connections are kept under a share of the process' descriptor limit (`ulimit -n`): past it, the
  connection idle the longest (no request begun) is closed for the new one, so health probes are
  answered while idle clients hold every descriptor. asyncio, once out of descriptors, logged one
  traceback per listen-backlog slot (2048) a second and accepted nothing until a connection ended; its
  message is now one line every `_REPORT_EVERY` seconds, and idle connections are closed then too.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("modelpack.serve")
_REPORT_EVERY = 10.0


def connection_cap() -> int:
    """Connections kept open at most: three quarters of the descriptor limit, the rest left to the model,
    gRPC and the process' own files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(4, soft - max(16, soft // 4))


class LingeringTransport:
    """An asyncio transport whose `close()` asks its protocol first (`protocol.close_gently`)."""

    def __init__(self, transport: Any, protocol: Any) -> None:
        self.real, self._protocol = transport, protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def close(self) -> None:
        self._protocol.close_gently()


def linger(transport: Any) -> None:
    """Send what is buffered, then end the sending side; keep reading (the caller drops what comes)."""
    if transport.can_write_eof():
        transport.write_eof()
    if not transport.is_reading():
        transport.resume_reading()


def evict_idle(connections: Iterable[Any], keep: Any = None, count: int = 1) -> int:
    """Close up to `count` of the connections idle the longest (`idle_since()` not None), never `keep`.

    Returns:
        How many were closed.
    """
    idle = sorted((since, id(c), c) for c in connections
                  if c is not keep and (since := c.idle_since()) is not None)
    for _, _, connection in idle[:count]:
        connection.drop()
    return min(count, len(idle))


class OutOfFiles:
    """An event-loop exception handler: asyncio's "out of system resource" on accept becomes one log
    line now and then, and closes idle connections; anything else goes to the loop's default handler."""

    def __init__(self, connections: Any) -> None:
        self.connections = connections
        self._reported = self._evicted = -_REPORT_EVERY

    def __call__(self, loop: Any, context: dict[str, Any]) -> None:
        if context.get("message") != "socket.accept() out of system resource":
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self._evicted < 0.5:
            return  # called again for each slot of the backlog in the same accept round
        self._evicted = now
        # Half of the idle connections: the next accept round (asyncio's, a second later) takes as many
        # from the backlog, where a health probe may be waiting behind idle clients.
        evicted = evict_idle(self.connections, count=max(1, len(self.connections) // 2))
        if now - self._reported >= _REPORT_EVERY:
            self._reported = now
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            log.warning("out of file descriptors (ulimit -n %s): closed %d idle connections; raise the limit",
                        soft, evicted)
