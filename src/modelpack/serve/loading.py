"""What `serve` answers on its port while the model loads (minutes for a large one), instead of leaving a
probe or a client to time out in the listen backlog.

As Triton and KServe's runtimes answer during a load: `GET /v2/health/live` is 200 (the process is up);
`/v2/health/ready` and `/v2/models/NAME[/versions/V]/ready` are 400 `{"ready": false}` (the Open
Inference Protocol's "4xx is false", the code Triton sends); any other request is 503 `{"error": "model is
loading"}` with `Retry-After`. No body is read, and every answer closes its connection: a client's next
request reaches the model's server once it has taken over.

The HTTP layer is the model server's (`http_server.uvicorn_config`): the same deadline and size cap on
headers, the same cap on connections. It runs on a thread of its own, so that the model loads on the main
thread, where the stop signals land as before (`cli.deploy_commands.stopped_while_loading`), and it
accepts on a duplicate of the listening socket's descriptor: `stop()` closes only the duplicate, so the
port keeps listening and a connection that arrives before the model's server accepts waits in the
backlog; it is never refused.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from types import TracebackType
from typing import Any

from modelpack.http_hosts import HostCheck, HostNames
from modelpack.serve.limits import Receive, Scope, Send, ServerLimits, send_json
from modelpack.threads import worker_thread

# Seconds a client is told to wait before asking again (a load takes seconds to minutes).
RETRY_AFTER = 5
# Seconds the connections open when the model's server takes over have to send their request: each is
# answered at once, so what is left by then is a client slow to send (dropped: it reconnects to the model).
HANDOVER_WAIT = 1.0
LOADING = "model is loading"
_READY = re.compile(r"/v2/health/ready|/v2/models/[^/]+(?:/versions/[^/]+)?/ready")


async def loading_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application while the model loads (see the module docstring); it never reads a body."""
    if scope["type"] != "http":
        return
    close = [(b"connection", b"close")]
    if scope["method"] in ("GET", "HEAD") and scope["path"] == "/v2/health/live":
        await send_json(send, 200, {"live": True}, close)
    elif scope["method"] in ("GET", "HEAD") and _READY.fullmatch(scope["path"]):
        await send_json(send, 400, {"ready": False}, close)
    else:
        await send_json(send, 503, {"error": LOADING}, [(b"retry-after", str(RETRY_AFTER).encode()), *close])


class LoadingResponder:
    """`loading_app` served on a listening socket from a thread of its own (and, with a gRPC port,
    `grpc_loading`'s server), from `start()` to `stop()`; as a context manager, from entering to leaving."""

    def __init__(self, sock: socket.socket | None, limits: ServerLimits, host: str = "127.0.0.1",
                 grpc_port: int | None = None, host_names: HostNames | None = None) -> None:
        """Args:
            sock: the listening socket the model's server will serve on (left listening); None: another
                process answers on it (a `--workers` worker's parent).
            limits: the request deadline bounds each request's headers, as in the model's server.
            host: the address gRPC listens on.
            grpc_port: answer gRPC on this port too (0: any free port; `grpc_port` then says which).
            host_names: the Host headers answered, as the model's server will (`modelpack.http_hosts`);
                None answers any.
        """
        self.host, self.limits, self.grpc_port = host, limits, grpc_port
        self._grpc: Any = None
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        if sock is not None:
            from modelpack.serve.http_server import uvicorn_config

            self._socket = sock.dup()  # (closed by uvicorn when it stops; `sock` keeps listening)
            app = loading_app if host_names is None else HostCheck(loading_app, host_names)
            self._server = _responder_class()(uvicorn_config(app, limits, graceful_stop=int(HANDOVER_WAIT)))
            self._thread = worker_thread(self._server.run, [self._socket], name="modelpack-loading", daemon=True)

    def start(self) -> None:
        """Answer on the socket (and the gRPC port) from now on.

        Raises:
            UsageError: the gRPC port cannot be bound.
        """
        if self.grpc_port is not None:
            from modelpack.serve.grpc_loading import start_loading_grpc

            self._grpc, self.grpc_port = start_loading_grpc(self.host, self.grpc_port, self.limits, LOADING)
        if self._thread is not None:
            self._thread.start()

    def stop(self) -> None:
        """Stop accepting and close the connections (within `HANDOVER_WAIT`); the socket keeps listening."""
        if self._grpc is not None:
            self._grpc.stop(HANDOVER_WAIT).wait(HANDOVER_WAIT + 5)
            self._grpc = None
        if self._thread is not None and self._socket is not None:
            self._server.should_exit = True
            if self._thread.is_alive():
                self._thread.join(HANDOVER_WAIT + 5)
            self._socket.close()

    def __enter__(self) -> LoadingResponder:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def _responder_class() -> type:
    import uvicorn

    class Responder(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Not uvicorn's: it would wait for a slow client up to the graceful stop and then log the
            # tasks it cancels, while the model's server waits to take over.
            for server in self.servers:
                server.close()
            # Not each connection's shutdown(): one accepted just now, whose request is not read yet, would
            # be closed unanswered (a reset for its client). Every answer closes its connection: what is
            # open was accepted and not yet answered; it is, as its request arrives, within the wait.
            await asyncio.sleep(0.05)  # connections accepted in the last round get their protocol (and count)
            loop = asyncio.get_running_loop()
            until = loop.time() + HANDOVER_WAIT
            while self.server_state.connections and loop.time() < until:
                await asyncio.sleep(0.02)
            left: list[Any] = list(self.server_state.connections)  # (ours: `http_protocols`)
            for connection in left:
                connection.drop()

        def install_signal_handlers(self) -> None:  # (uvicorn before 0.29: the stop signals are the loader's)
            return

    return Responder

