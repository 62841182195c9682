"""What `serve --grpc-port` answers over gRPC while the model loads, as `loading` does over HTTP and as
Triton does: ServerLive true, ServerReady and ModelReady false, any other call UNAVAILABLE "model is
loading" (a status clients retry). No message is parsed, and one over `MESSAGE_CAP` is refused by gRPC's
core before it is held whole.

The model's gRPC server then binds the same port while this one still listens (grpcio sets SO_REUSEPORT
on Linux), and this one stops after: a connection is never refused in between; one still open to this
server is told to go away (GOAWAY), and its client reconnects to the model's.
"""

from __future__ import annotations

from typing import Any

from modelpack.serve.grpc_schema import METHODS, SERVICE, messages
from modelpack.serve.limits import ServerLimits
from modelpack.serve.oip_grpc import bind, milliseconds
from modelpack.threads import signals_blocked, worker_pool

# The largest message taken while loading (none is needed: every answer is known before it is read).
MESSAGE_CAP = 64 * 1024


def start_loading_grpc(host: str, port: int, limits: ServerLimits, message: str) -> tuple[Any, int]:
    """Start the gRPC server that answers while the model loads (see the module docstring).

    Args:
        host: address to listen on.
        port: port (0: any free port).
        limits: calls at once (`max_connections`) and the request deadline, which bounds a connection's age.
        message: what a call other than the health ones is told (UNAVAILABLE).

    Returns:
        (the running grpc.Server, the port it listens on); stop it with `.stop(grace)`.

    Raises:
        UsageError: the port cannot be bound.
    """
    import grpc

    classes = messages()
    answers = {"ServerLive": classes["ServerLiveResponse"](live=True),
               "ServerReady": classes["ServerReadyResponse"](ready=False),
               "ModelReady": classes["ModelReadyResponse"](ready=False)}

    def answering(method: str) -> Any:
        def handler(request: bytes, context: Any) -> Any:
            if method not in answers:
                context.abort(grpc.StatusCode.UNAVAILABLE, message)
            return answers[method]
        return handler

    handlers = {method: grpc.unary_unary_rpc_method_handler(  # (no deserializer: the bytes are never parsed)
        answering(method), response_serializer=classes[response].SerializeToString)
        for method, (_, response) in METHODS.items()}
    with signals_blocked():  # gRPC's threads too: the stop signals reach the loading main thread only
        server = grpc.server(worker_pool(2, "modelpack-grpc-loading"), maximum_concurrent_rpcs=limits.max_connections,
                             options=[("grpc.max_receive_message_length", MESSAGE_CAP),
                                      ("grpc.max_connection_age_ms", milliseconds(10 * limits.request_timeout)),
                                      ("grpc.max_connection_age_grace_ms", milliseconds(limits.request_timeout))])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    bound = bind(server, host, port)
    with signals_blocked():
        server.start()
    return server, bound
