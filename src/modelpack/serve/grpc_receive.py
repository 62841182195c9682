"""How many gRPC request messages are received at once, so that gRPC's core cannot hold more than the
memory budget in messages no code of ours has seen.

grpcio's core reads a call's whole message (up to `grpc.max_receive_message_length`) before the request
deserializer, where the byte budget is taken, runs; under a unary handler it starts reading as soon as the
call is handled, so `maximum_concurrent_rpcs` calls of the largest size were held at once (128 clients of
16 MiB took a server with a 32 MiB budget to 1.35 GB). None of grpcio's options bound that: a resource
quota is a C pointer Python cannot pass, and flow-control windows (`grpc.http2.lookahead_bytes`,
`grpc.http2.bdp_probe`, `grpc.max_concurrent_streams`) do not limit a message being read. A
request-streaming handler is given the messages as an iterator, read one `next()` at a time: ModelInfer
is served so (one message on the wire either way), and each `next()` holds one of `ReceiveSlots`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

MISSING = object()  # the call ended before a message arrived


class LateMessage(Exception):
    """A message still arriving when its time was up; its call has been cancelled."""


class ReceiveSlots:
    """At most `count` messages being received at once; one received within `timeout` of its slot.

    A call waits up to `timeout` for a slot (a small message takes its slot for microseconds; the largest
    for the time it takes to arrive), and a message still arriving `timeout` after its slot was taken is
    cancelled, as REST's 408 ends a body that does not arrive in time: a client sending slowly holds a slot
    no longer than that.
    """

    def __init__(self, count: int, timeout: float, limit: int) -> None:
        """Args:
            count: messages received at once (at least 1).
            timeout: seconds to wait for a slot, and then for the message.
            limit: the largest message gRPC's core lets through (for the refusal's words).
        """
        self.limit = limit
        self._free = threading.Semaphore(max(count, 1))
        self._timeout = timeout
        self._lock = threading.Condition()
        self._receiving: dict[int, tuple[float, Any]] = {}  # token -> (deadline, the call's context)
        self._tokens = itertools.count()
        self._watching = False

    def first_message(self, requests: Iterator[Any], context: Any, codes: Any) -> Any:
        """The call's message, or the call aborted with the status it ends with.

        A message over the limit is refused by gRPC's core, which ends the call; the handler, waiting
        for the message, sees the call end without one, and aborts it as refused (RESOURCE_EXHAUSTED),
        so that it is counted. A client leaving while its message arrives looks the same to grpcio, and
        is counted so too.

        Args:
            requests: grpcio's request iterator.
            context: the call's ServicerContext.
            codes: grpc.StatusCode.

        Returns:
            What the request deserializer made of the message.

        Raises:
            Exception: grpcio's, from `context.abort`.
        """
        ended = threading.Event()
        context.add_callback(ended.set)
        try:
            message = self.receive(requests, context)
        except LateMessage as late:
            context.abort(codes.DEADLINE_EXCEEDED, str(late))
        except Exception:  # grpc.RpcError: the call was ended while its message arrived
            message = MISSING
            ended.set()
        if message is None:
            context.abort(codes.RESOURCE_EXHAUSTED, "the server is busy receiving the messages of other "
                                                    "requests; retry later")
        # The core ends the call just after failing the read; a client that sent no message waits for us.
        if message is MISSING and ended.wait(1.0):
            context.abort(codes.RESOURCE_EXHAUSTED, f"the request message is over the limit of {self.limit} "
                                                    "bytes, or the client left while sending it")
        if message is MISSING:
            context.abort(codes.INVALID_ARGUMENT, "ModelInfer takes one request message; none came")
        return message

    def receive(self, requests: Iterator[Any], context: Any) -> Any:
        """The call's first message, read while holding a slot.

        Args:
            requests: grpcio's request iterator.
            context: the call's ServicerContext (cancelled when the message is late).

        Returns:
            The message, MISSING when the call ended first, or None when no slot came free in time.

        Raises:
            LateMessage: the message was still arriving `timeout` after its slot was taken (the call is
                cancelled).
            grpc.RpcError: the client cancelled the call while its message was arriving.
        """
        if not self._free.acquire(timeout=self._timeout):
            return None
        token = next(self._tokens)
        with self._lock:
            self._receiving[token] = (time.monotonic() + self._timeout, context)
            if not self._watching:
                # Born on a gRPC worker thread, so with SIGINT and SIGTERM blocked as they are.
                self._watching = True
                threading.Thread(target=self._watch, name="modelpack-grpc-receive", daemon=True).start()
        failure: Exception | None = None
        try:
            message = next(requests, MISSING)
        except Exception as exc:  # grpc.RpcError: the call was cancelled
            failure, message = exc, MISSING
        finally:
            with self._lock:
                # Gone: the watcher took it and cancelled the call (which ends the read either way).
                late = self._receiving.pop(token, None) is None
            self._free.release()
        if late and message is MISSING:  # (one that came as it was cancelled holds the budget: kept)
            raise LateMessage(f"the request message did not arrive within {self._timeout:g} s")
        if failure is not None:
            raise failure
        return message

    def _watch(self) -> None:
        """Cancel the calls whose message is late; end after `timeout` with nothing arriving."""
        idle_since = time.monotonic()
        while True:
            with self._lock:
                now = time.monotonic()
                if self._receiving:
                    idle_since = now
                elif now - idle_since >= self._timeout:
                    self._watching = False
                    return
                late = [self._receiving.pop(token)[1] for token, (deadline, _) in list(self._receiving.items())
                        if deadline <= now]
                soonest = min((deadline for deadline, _ in self._receiving.values()), default=now + self._timeout)
                if not late:
                    self._lock.wait(max(soonest - now, 0.01))
                    continue
            for context in late:  # outside the lock: the receiving thread takes it as it wakes
                context.cancel()
