"""An Open Inference Protocol (KServe V2) server for one model: the application (`app`) on uvicorn
(`http_server`), bounded by `limits.ServerLimits`."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from modelpack.serve.http_server import InferenceServer
from modelpack.serve.limits import ByteBudget, ServerLimits
from modelpack.serve.served_model import ServedModel

if TYPE_CHECKING:
    from modelpack.http_hosts import HostNames

__all__ = ["InferenceServer", "ServedModel", "make_server"]


def make_server(model: ServedModel, host: str, port: int, limits: ServerLimits | None = None,
                sock: socket.socket | None = None, grpc_port: int | None = None,
                host_names: HostNames | None = None) -> InferenceServer:
    """A server for `model`, listening already; call `serve_forever()` on it.

    Args:
        model: the loaded model.
        host: address to listen on.
        port: port to listen on (0: any free port).
        limits: concurrency, request deadline, body size and gRPC receive rate (default: `ServerLimits()`).
        sock: a listening socket to serve on instead of binding `host`:`port`.
        grpc_port: also serve the protocol over gRPC on this port (0: any free port; None: no gRPC).
        host_names: the Host headers HTTP answers (`modelpack.http_hosts`); None answers any.

    Returns:
        The server.

    Raises:
        MissingDependencyError: uvicorn, starlette or prometheus-client (with `grpc_port`: grpcio or
            protobuf) is not installed.
        UsageError: the address cannot be listened on.
    """
    from modelpack.serve.app import build_app
    from modelpack.serve.http_server import listen
    from modelpack.serve.metrics import ServerMetrics
    from modelpack.serve.runtimes import require_stack

    require_stack(grpc_port is not None)
    bounds = limits or ServerLimits()
    metrics = ServerMetrics(model.name, model.version, model.digest, model.runtime.platform)
    budget = ByteBudget(bounds.inflight_bytes)  # one for both protocols: one process's memory
    sock = sock or listen(host, port)
    try:
        server = InferenceServer(build_app(model, bounds, metrics, budget, host_names), sock, bounds)
        if grpc_port is not None:
            from modelpack.serve.oip_grpc import start_grpc

            server.grpc_server, server.grpc_port = start_grpc(model, metrics, host, grpc_port,
                                                              bounds.max_request_bytes, bounds.max_connections,
                                                              budget, bounds.request_timeout, bounds.receive_timeout)
        return server
    except BaseException:
        sock.close()
        raise
