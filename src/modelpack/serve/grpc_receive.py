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

Turns are few (two by default), so a turn requires progress: its message must arrive within the time the
largest message takes at `--min-receive-rate` (`limits.ServerLimits.receive_timeout`), or the call ends
(DEADLINE_EXCEEDED, saying why) and the turn goes to the call that has waited longest: clients sending a
few bytes at a time, reconnecting as they are cut off, cannot keep well-behaved calls from their turns.
grpcio shows no byte of a message before all of it has come, so the rate is checked over the whole
message, as if it were the largest.

A call that ends while its message arrives looks the same to the handler whether gRPC's core refused
the message (over `grpc.max_receive_message_length`: the client gets RESOURCE_EXHAUSTED) or the client
cancelled or left; only the read's own result differs (failed, or ended with no message), which grpcio
keeps to itself. `ReadWatch` notes it for the one call, so each is told and logged as what it was.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

MISSING = object()  # the call ended before a message arrived
log = logging.getLogger("modelpack.serve")


class LateMessage(Exception):
    """A message still arriving when its time was up; its call has been cancelled."""


class ReceiveSlots:
    """At most `count` messages being received at once, each within `receive_timeout` of its turn.

    A call waits up to `timeout` for a turn, turns going to waiting calls first come, first served (a
    call arriving as a turn is freed does not take it from one that has waited); a message still
    arriving `receive_timeout` after its turn came has its call cancelled with DEADLINE_EXCEEDED, as
    REST's 408 ends a body that does not arrive in time.
    """

    def __init__(self, count: int, timeout: float, limit: int, receive_timeout: float | None = None) -> None:
        """Args:
            count: messages received at once (at least 1).
            timeout: seconds a call waits for a turn.
            limit: the largest message gRPC's core lets through (for the refusal's words).
            receive_timeout: seconds a message has to arrive once its turn came (default: `timeout`).
        """
        self.limit = limit
        self._free = max(count, 1)
        self._waiting: deque[threading.Event] = deque()  # calls waiting for a turn, oldest first
        self._timeout = timeout
        self._receive_timeout = timeout if receive_timeout is None else receive_timeout
        self._lock = threading.Condition()
        self._receiving: dict[int, tuple[float, Any]] = {}  # token -> (deadline, the call's context)
        self._tokens = itertools.count()
        self._watching = False
        self._wake_at = 0.0  # when the watcher wakes next (monotonic)

    def first_message(self, requests: Iterator[Any], context: Any, codes: Any, method: str = "ModelInfer",
                      turn: bool = True) -> Any:
        """The call's message, or the call aborted with the status it ends with.

        A message over the limit is refused by gRPC's core, which ends the call, and so does a client
        that cancels or leaves while its message arrives; grpcio shows the handler the same ended call
        for both, so the read's own result tells them apart (`ReadWatch`): RESOURCE_EXHAUSTED or
        CANCELLED (DEADLINE_EXCEEDED when the client's own deadline had passed), in one log line.

        Args:
            requests: grpcio's request iterator.
            context: the call's ServicerContext.
            codes: grpc.StatusCode.
            method: the method's name, for the log and the refusals.
            turn: whether the message waits for a turn (ModelInfer's); the others are small, read at
                once, within the same deadline.

        Returns:
            What the request deserializer made of the message.

        Raises:
            Exception: grpcio's, from `context.abort`.
        """
        ended = threading.Event()
        context.add_callback(ended.set)
        peer = context.peer()  # (empty once the call has ended)
        try:
            message = self.receive(requests, context, turn)
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
            left = context.time_remaining()
            if left is not None and left <= 0:
                context.abort(codes.DEADLINE_EXCEEDED, "the client's deadline passed while its message arrived")
            self._ended_while_arriving(context, codes, getattr(requests, "_call", None), f"{method} from {peer}")
        if message is MISSING:
            context.abort(codes.INVALID_ARGUMENT, f"{method} takes one request message; none came")
        return message

    def _ended_while_arriving(self, context: Any, codes: Any, watch: Any, call: str) -> None:
        """Abort a call that ended while its message arrived with what ended it, said in one log line.

        gRPC's core checks a message's size only once it is asked to read it, so a call that ended
        before its read began was ended by its client."""
        if not isinstance(watch, ReadWatch):  # grpcio's internals changed: either cause
            log.info("gRPC %s: the call ended while its message arrived", call)
            context.abort(codes.CANCELLED, f"the call ended while its message arrived: over the limit of "
                                           f"{self.limit} bytes (refused by gRPC's core), or its client left")
        if watch.refused:
            words = (f"the request message was refused by gRPC's core: over the limit of {self.limit} bytes "
                     "(--max-request-size), or compressed unreadably")
            log.info("gRPC %s: %s", call, words)
            context.abort(codes.RESOURCE_EXHAUSTED, words)
        log.info("gRPC %s: the client cancelled or left while its message arrived", call)
        context.abort(codes.CANCELLED, "the client cancelled or left while its message arrived")

    def receive(self, requests: Iterator[Any], context: Any, turn: bool = True) -> Any:
        """The call's first message, read while holding a turn (or without one: `turn` False).

        Args:
            requests: grpcio's request iterator.
            context: the call's ServicerContext (cancelled when the message is late).
            turn: whether to wait for a turn first.

        Returns:
            The message, MISSING when the call ended first, or None when no turn came free in time.

        Raises:
            LateMessage: the message was still arriving `receive_timeout` after its turn came (the call
                is cancelled).
            grpc.RpcError: the client cancelled the call while its message was arriving.
        """
        if turn and not self._take_turn():
            return None
        token = next(self._tokens)
        with self._lock:
            deadline = time.monotonic() + self._receive_timeout
            self._receiving[token] = (deadline, context)
            if deadline < self._wake_at:  # the watcher sleeps past it (woken only then: a switch of threads)
                self._lock.notify()
            if not self._watching:
                # Born on a gRPC worker thread, so with SIGINT and SIGTERM blocked as they are.
                self._watching = True
                threading.Thread(target=self._watch, name="modelpack-grpc-receive", daemon=True).start()
        failure: Exception | None = None
        ReadWatch.install(requests)
        try:
            message = next(requests, MISSING)
        except Exception as exc:  # grpc.RpcError: the call was cancelled
            failure, message = exc, MISSING
        finally:
            with self._lock:
                # Gone: the watcher took it and cancelled the call (which ends the read either way).
                late = self._receiving.pop(token, None) is None
            if turn:
                self._give_turn()
        if late and message is MISSING:  # (one that came as it was cancelled holds the budget: kept)
            raise LateMessage(self._late_words())
        if failure is not None:
            raise failure
        return message

    def _take_turn(self) -> bool:
        """Wait up to `timeout` for a turn, behind the calls already waiting; False when none came."""
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return True
            given = threading.Event()
            self._waiting.append(given)
        if given.wait(self._timeout):
            return True
        with self._lock:
            if given.is_set():  # given just as the wait ended
                return True
            self._waiting.remove(given)
            return False

    def _give_turn(self) -> None:
        """The turn to the call that has waited longest, or back to the free ones."""
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1

    def _late_words(self) -> str:
        return (f"the request message did not arrive within {self._receive_timeout:.3g} s of the server asking "
                "for it (too slow: see --min-receive-rate)")

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
                    self._wake_at = soonest
                    self._lock.wait(max(soonest - now, 0.01))
                    self._wake_at = 0.0  # awake: nobody need wake it
                    continue
            for context in late:  # outside the lock: the receiving thread takes it as it wakes
                _cancel(context, self._late_words())


class ReadWatch:
    """Stands for a call's core object (`cygrpc.Call`) in grpcio's request iterator, so the result of
    each read the iterator starts is noted in `refused`: True when gRPC's core failed it (a message it
    refused), False when it ended without failing, None before any ended (none is begun on a call
    already ended).

    grpcio's iterator and call are private: when a release renames them, nothing is installed and a
    call ending mid-message is told as before (either cause)."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.refused: bool | None = None

    @classmethod
    def install(cls, requests: Iterator[Any]) -> None:
        """Watch the reads of `requests` (grpcio's request iterator) from now on, if it is one."""
        call = getattr(requests, "_call", None)
        if call is not None and not isinstance(call, cls) and hasattr(call, "start_server_batch"):
            requests._call = cls(call)  # type: ignore[attr-defined]

    def start_server_batch(self, operations: Any, tag: Any) -> Any:
        """grpcio's: start `operations`; `tag` is called with the event they end with."""

        def noted(event: Any) -> Any:
            self.refused = not event.success
            return tag(event)

        return self.call.start_server_batch(operations, noted)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.call, name)


DEADLINE_EXCEEDED = 4  # grpc.StatusCode.DEADLINE_EXCEEDED's number


def _cancel(context: Any, details: str) -> None:
    """End a call whose message is late with DEADLINE_EXCEEDED and `details`, sent to its client as the
    call's status. grpcio's public `cancel()` says only CANCELLED; its call object (private) takes a
    status: when a release renames it, the call is cancelled all the same."""
    call = getattr(getattr(context, "_rpc_event", None), "call", None)
    try:
        call.cancel(DEADLINE_EXCEEDED, details)  # type: ignore[union-attr]
    except Exception:  # (AttributeError, TypeError): not grpcio's call as this was written against
        context.cancel()
