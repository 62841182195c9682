"""The HTTP layer of `serve`: uvicorn (HTTP/1.1, keep-alive) on a socket bound before the model is served,
with a deadline on every request's headers and a graceful stop.

- The listening socket is bound when the server is made, so a port in use is one clear error and
  port 0 resolves before anything is served; its backlog is `BACKLOG`.
- Each connection has `request_timeout` seconds to send a request's headers (from connecting, or from
  the previous response); one that drips bytes or sends nothing is closed (`http_protocols`). The body's deadline is the
  application's (`limits.LimitsMiddleware`). Idle keep-alive connections close after `KEEP_ALIVE` s.
- SIGTERM or SIGINT stops accepting connections, lets requests in flight finish (up to
  `request_timeout`; a second signal stops at once), and returns normally: the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from modelpack.advice import compose, setting
from modelpack.errors import UsageError
from modelpack.serve.limits import ServerLimits

log = logging.getLogger("modelpack.serve")
BACKLOG = 2048
KEEP_ALIVE = 5.0
HOST = setting("host", "--host")


def listen(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """A listening TCP socket on `host`:`port` (IPv4 or IPv6, as `host` resolves).

    Raises:
        UsageError: the address is in use, not this machine's, or not an address at all.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         advice=compose("choose another {}", HOST)) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         advice=compose("choose another {} or {}", setting("port", "--port"), HOST)) from None
    sock.set_inheritable(True)  # --workers: the worker processes accept on it too
    return sock


def uvicorn_config(app: Any, limits: ServerLimits, graceful_stop: int | None = None) -> Any:
    """uvicorn's configuration for `app` with serve's HTTP layer (`http_protocols`): the same for the model's
    server and for what answers while it loads (`loading`).

    Args:
        app: the ASGI application.
        limits: the request deadline bounds headers (and, by default, the graceful stop).
        graceful_stop: seconds uvicorn waits for connections on a stop (default: behind ours, `stop_bound`).

    Returns:
        A `uvicorn.Config`.
    """
    import uvicorn

    from modelpack.serve.http_protocols import MAX_HEAD, protocol_class

    # uvicorn warns "Invalid HTTP request received." for every request it cannot parse: a client could
    # fill the log one line a request. Those get a JSON 400/431 and are counted; its errors still show.
    logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
    if graceful_stop is None:
        graceful_stop = int(max(1, limits.request_timeout)) + 5
    # loop="asyncio" even where uvloop is installed: under 32 connections uvloop left some requests
    # waiting 80-480 ms (p99 up to 250 ms) where asyncio's never passed 50 ms, at the same req/s.
    return uvicorn.Config(app, http=protocol_class(limits.request_timeout), loop="asyncio", lifespan="off",
                          log_config=None, access_log=False, backlog=BACKLOG, timeout_keep_alive=int(KEEP_ALIVE),
                          timeout_graceful_shutdown=graceful_stop, server_header=False, date_header=True,
                          h11_max_incomplete_event_size=MAX_HEAD)


class InferenceServer:
    """An ASGI application served by uvicorn on a bound socket; `serve_forever()` until stopped."""

    def __init__(self, app: Any, sock: socket.socket, limits: ServerLimits) -> None:
        """Args:
            app: the ASGI application (`modelpack.serve.app.build_app`).
            sock: a listening socket (`listen`).
            limits: the request deadline also bounds headers and the graceful stop.
        """
        self.socket, self.limits = sock, limits
        self._server = _server_class()(uvicorn_config(app, limits))
        self._server.stop_bound = max(1.0, limits.request_timeout)
        self._done = threading.Event()
        self.grpc_server: Any = None  # also serving gRPC (modelpack.serve.oip_grpc), stopped with this
        self.grpc_port: int | None = None
        self.pulled: Any = None  # serving a reference: the pull it serves (an api.TransferResult), for reports
        self.served: Any = None  # the ServedModel behind it, for the line saying where it answers

    @property
    def server_address(self) -> tuple[str, int]:
        return tuple(self.socket.getsockname()[:2])

    def serve_forever(self, ready: Callable[[], None] | None = None) -> None:
        """Serve until `shutdown()`, SIGTERM or SIGINT (signals only when called on the main thread).

        Args:
            ready: called once the server accepts connections and handles the stop signals.
        """
        self._server.ready = ready
        self._done.clear()
        cut_off = _CutOff(self._server)
        errors = logging.getLogger("uvicorn.error")
        errors.addFilter(cut_off)
        try:
            self._server.run(sockets=[self.socket])
        finally:
            errors.removeFilter(cut_off)
            if self.grpc_server is not None:  # its calls in flight finish too
                self.grpc_server.stop(self.limits.request_timeout).wait()
            self._done.set()

    def shutdown(self) -> None:
        """Ask `serve_forever()` (on another thread) to stop as a signal would, and wait for it."""
        self._server.should_exit = True
        self._done.wait(self.limits.request_timeout + 10)

    def server_close(self) -> None:
        self.socket.close()


def stopping_line(signum: int) -> str:
    """The log line a stop signal gets (once per server: `--workers` logs it in the parent only)."""
    return f"{signal.Signals(signum).name} received: finishing the requests in flight, then stopping"


def again_line(signum: int) -> str:
    """The start of the line a second stop signal gets (`--workers` says it once, in the parent)."""
    return f"{signal.Signals(signum).name} received again: stopping now"


def _cut_line(what: str, connections: int) -> str:
    """The line a stop that no longer waits gets: what ended the wait, and what it cuts off."""
    return f"{what}, closing {connections} connection{'' if connections == 1 else 's'}"


class _CutOff(logging.Filter):
    """Drops uvicorn's traceback for each request a forced stop cancels (the stop line said it)."""

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server

    def filter(self, record: logging.LogRecord) -> bool:
        cancelled = record.exc_info is not None and isinstance(record.exc_info[1], asyncio.CancelledError)
        return not (cancelled and self.server.force_exit)


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        ready: Callable[[], None] | None = None
        stop_bound = 30.0  # seconds the requests in flight have once a stop signal came

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn's own re-raises the signal once stopped, which would end the process with it
            # instead of exit 0.
            if threading.current_thread() is not threading.main_thread():
                yield
                return

            def stop(signum: int, frame: Any) -> None:
                # A second stop signal, of either kind, stops at once (uvicorn's forces only on a second
                # SIGINT, and would print each request it then cuts off as a traceback).
                if not self.should_exit:
                    log.info("%s", stopping_line(signum))
                    self.should_exit = True
                elif not self.force_exit:
                    log.info("%s", _cut_line(again_line(signum), len(self.server_state.connections)))
                    self.force_exit = True

            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Connections that reached the backlog before the stop were sent before it: let the loop
            # accept them and read what they sent before the listener closes (a request already
            # begun is then finished, see http_protocols).
            await asyncio.sleep(0.05)
            # The graceful stop's bound is ours, to say it in our words: uvicorn's ("Cancel 0 running
            # task(s), timeout graceful shutdown exceeded") counts tasks, not the connections it waited on.
            give_up = asyncio.get_running_loop().call_later(self.stop_bound, self._give_up)
            try:
                await super().shutdown(sockets)
            finally:
                give_up.cancel()

        def _give_up(self) -> None:
            if not self.force_exit:
                log.info("%s", _cut_line(f"requests in flight not done after {self.stop_bound:g} s (--request-timeout)",
                                         len(self.server_state.connections)))
                self.force_exit = True

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            from modelpack.serve.http_connections import OutOfFiles

            asyncio.get_running_loop().set_exception_handler(OutOfFiles(self.server_state.connections))
            await super().startup(sockets)
            if self.started and self.ready is not None:
                self.ready()

    return Server
