"""uvicorn's HTTP/1.1 protocols with what `serve` adds: a deadline for each request's headers, a graceful
stop that still answers a request whose first bytes had arrived, and JSON 400s.

httptools (llhttp, in C) when it is installed, as uvicorn itself prefers; h11 (pure Python) otherwise. With
httptools each request costs less and the p99 under 32 connections was a third lower here (20 against 30 ms).

- Each connection has `request_timeout` seconds to send a request's headers (from connecting, or from the
  previous response); one that drips bytes or sends nothing is closed. The body's deadline is the
  application's (`limits.LimitsMiddleware`). A response not read by then (the client has stopped
  reading) is dropped with its connection, so what it holds of the server's memory is freed.
- A request line and headers over `MAX_HEAD` bytes (as counted) get a JSON 431 and the connection is closed (httptools
  and uvicorn set no bound: one connection's 200 MB of headers took the server to 3 GB).
- On stop, a connection whose request has begun (bytes of it received, its response not sent) is answered
  and then closed; an idle one is closed at once.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from modelpack.serve.http_connections import LingeringTransport, connection_cap, evict_idle, linger

# The count may reach twice the real size (a chunk wholly inside the head, then its headers): twice nginx's
# default (large_client_header_buffers 4 8k), so whatever nginx takes passes.
MAX_HEAD = 64 * 1024
_CAP = connection_cap()


def protocol_class(request_timeout: float) -> type:
    """The protocol class for uvicorn's `http=` (see the module docstring).

    Args:
        request_timeout: seconds a connection has for each request's headers.

    Returns:
        A subclass of uvicorn's HttpToolsProtocol, or of its H11Protocol when httptools is missing.
    """
    try:
        import httptools  # noqa: F401
    except ImportError:
        return _h11(request_timeout)
    return _httptools(request_timeout)


class _HeaderDeadline:
    """The deadlines, the gentle close and the connection cap, for either protocol (a mixin before
    uvicorn's class; see the module docstring and `http_connections`)."""

    request_timeout: float
    transport: Any
    loop: Any
    cycle: Any
    connections: set[Any]
    _deadline: Any = None
    _stopping = False
    _lingering = False
    _idle_from: float | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(LingeringTransport(transport, self))  # type: ignore[misc]
        self._arm()
        self._idle_from = self.loop.time()
        if len(self.connections) > _CAP:
            evict_idle(self.connections, keep=self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # what a refused request still sends is read and dropped (`http_connections`)
        self._idle_from = None
        super().data_received(data)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        self._arm()  # also when closing: a response nobody reads is dropped when the deadline passes
        if self._lingering:
            return  # closing: a request pipelined after it is not answered
        super().on_response_complete()  # type: ignore[misc]
        if not self._request_unfinished():
            self._idle_from = self.loop.time()

    def pause_writing(self) -> None:
        # The client is not taking the response as fast as it is written: it has until the deadline
        # to take the rest (the response's bytes and its budget are held until then, not longer).
        super().pause_writing()  # type: ignore[misc]
        if self._deadline is None:
            self._arm()

    def idle_since(self) -> float | None:
        """When this connection's last request was answered (or it connected), if none has begun since."""
        if self._lingering or self._request_unfinished():
            return None
        return self._idle_from

    def drop(self) -> None:
        """Close at once (an idle connection, to make room for a new one)."""
        self._disarm()
        self.transport.real.close()

    def close_gently(self) -> None:
        """uvicorn's close: linger while the request is still arriving (`http_connections`)."""
        real = self.transport.real
        if self._lingering or real.is_closing() or not self._request_unfinished():
            real.close()
            return
        self._lingering = True
        linger(real)
        if self._deadline is None:
            self._arm()

    def _request_unfinished(self) -> bool:
        """Whether bytes of a request whose end has not arrived were received."""
        raise NotImplementedError

    def _headers_arrived(self) -> None:
        self._disarm()  # the application bounds the body
        if self._stopping and self.cycle is not None:
            self.cycle.keep_alive = False

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        real = self.transport.real
        if self._lingering or self.cycle is None or self.cycle.response_complete or self.cycle.response_started:
            if real.get_write_buffer_size():
                # close() would wait for a client that does not read to take the rest: its memory with it.
                real.abort()
            else:
                real.close()


def _json_400(msg: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    return _json_error(f"{msg} (not HTTP/1.1)")


def _json_error(msg: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps({"error": msg}).encode()
    return body, [(b"content-type", b"application/json"), (b"connection", b"close"),
                  (b"content-length", str(len(body)).encode())]


def _httptools(request_timeout: float) -> type:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class DeadlineHttpToolsProtocol(_HeaderDeadline, HttpToolsProtocol):
        _begun = False  # bytes of a request arrived, its headers not yet complete
        _head = 0  # at least the bytes of its request line and headers so far (at most twice as many)
        _too_large = False

        def data_received(self, data: bytes) -> None:
            within = self._begun  # the whole chunk is head when it starts and ends inside one
            super().data_received(data)
            closing = self._lingering or self.transport.is_closing()
            if within and self._begun and self._over(len(data)) and not closing:
                self.send_400_response("")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._begun, self._head = True, 0

        def on_url(self, url: bytes) -> None:
            if self._over(len(url)):
                raise ValueError("head too large")  # httptools stops; uvicorn calls send_400_response
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            if self._over(len(name) + len(value) + 4):
                raise ValueError("head too large")
            super().on_header(name, value)

        def _over(self, size: int) -> bool:
            self._head += size
            self._too_large = self._too_large or self._head > MAX_HEAD
            return self._too_large

        def on_headers_complete(self) -> None:
            self._begun = False
            super().on_headers_complete()
            self._headers_arrived()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.pipeline and not self._lingering:
                # uvicorn reads on after each response, and each read parses every request it holds
                # into the queue: a client pipelining requests without reading the answers grew it
                # by ~1,500 a response (+1 GB for 40 MB sent). Read again once the queue is answered.
                self.flow.pause_reading()

        def _request_unfinished(self) -> bool:
            return self._begun or (self.cycle is not None and self.cycle.more_body)

        def shutdown(self) -> None:
            if self._lingering:
                return self.drop()
            if (self.cycle is None or self.cycle.response_complete) and self._begun:
                self._stopping = True  # a request has begun: answer it, then close (within the deadline)
                return
            super().shutdown()

        def send_400_response(self, msg: str) -> None:
            if self._too_large:
                body, headers = _json_error(f"the request line and headers are over {MAX_HEAD} bytes")
                status = b"HTTP/1.1 431 Request Header Fields Too Large"
            else:
                (body, headers), status = _json_400(msg), b"HTTP/1.1 400 Bad Request"
            lines = [status, *(name + b": " + value for name, value in headers), b"", b""]
            head = b"\r\n".join(lines)
            self.transport.write(head + body)
            self.transport.close()

    DeadlineHttpToolsProtocol.request_timeout = request_timeout
    return DeadlineHttpToolsProtocol


def _h11(request_timeout: float) -> type:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DeadlineH11Protocol(_HeaderDeadline, H11Protocol):
        _too_large = False

        def data_received(self, data: bytes) -> None:
            if not self._lingering and (self.cycle is None or self.cycle.response_complete):
                # h11 bounds a head only while it is incomplete: one that arrives whole in a read (up to
                # 256 KiB) passed. Measured here as httptools' is: from the request line to the blank line.
                buffered = self.conn.trailing_data[0] + data
                end = buffered.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
                if self.conn.their_state is h11.IDLE and end < 0 and len(buffered) > MAX_HEAD:
                    self._too_large = True
                    self.send_400_response("")
                    return
            super().data_received(data)

        def handle_events(self) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            super().handle_events()
            if waiting and self.cycle is not None and not self.cycle.response_complete:
                self._headers_arrived()

        def _request_unfinished(self) -> bool:
            state = self.conn.their_state
            return self._too_large or state in (h11.SEND_BODY, h11.ERROR) or (
                state is h11.IDLE and bool(self.conn.trailing_data[0]))

        def shutdown(self) -> None:
            if self._lingering:
                return self.drop()
            idle = self.cycle is None or self.cycle.response_complete
            if idle and (self.conn.their_state is not h11.IDLE or self.conn.trailing_data[0]):
                self._stopping = True  # a request has begun: answer it, then close (within the deadline)
                return
            super().shutdown()

        def send_400_response(self, msg: str) -> None:
            status, reason = 400, b"Bad Request"
            body, headers = _json_400(msg)
            if self._too_large or (len(self.conn.trailing_data[0]) > MAX_HEAD
                                   and (self.cycle is None or self.cycle.response_complete)):
                # h11 refuses a head past its max_incomplete_event_size (MAX_HEAD here): a 431, as with httptools.
                status, reason = 431, b"Request Header Fields Too Large"
                body, headers = _json_error(f"the request line and headers are over {MAX_HEAD} bytes")
            with contextlib.suppress(h11.LocalProtocolError):
                for event in (h11.Response(status_code=status, headers=headers, reason=reason),
                              h11.Data(data=body), h11.EndOfMessage()):
                    self.transport.write(self.conn.send(event))
            self.transport.close()

    DeadlineH11Protocol.request_timeout = request_timeout
    return DeadlineH11Protocol
