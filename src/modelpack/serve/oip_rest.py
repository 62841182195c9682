"""The Open Inference Protocol's REST endpoints for one model, as a Starlette application.

    GET  /v2                                          server metadata (extensions: binary_tensor_data)
    GET  /v2/health/live, /v2/health/ready            liveness, readiness
    GET  /v2/models/{name}[/versions/{v}]             model metadata (digest in parameters)
    GET  /v2/models/{name}[/versions/{v}]/ready       model readiness
    POST /v2/models/{name}[/versions/{v}]/infer       inference, JSON or binary tensors
    GET  /metrics                                     Prometheus metrics

Every error is `{"error": "..."}`: 400 for a request that breaks the protocol, 404 for an unknown model
or path, 405 for a method an endpoint does not take, 408/413/503 from the limits, 500 for a bug of ours.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

from modelpack.serve import binary_tensors
from modelpack.serve.datatypes import DatatypeError
from modelpack.serve.limits import RequestRefused
from modelpack.serve.metrics import CONTENT_TYPE, ServerMetrics
from modelpack.serve.protocol import BadRequest, dumps, loads
from modelpack.serve.served_model import ServedModel
from modelpack.threads import worker_pool
from modelpack.version import __version__

log = logging.getLogger("modelpack.serve")
# Bodies up to this size are parsed and run on the event loop (a thread hop costs more than they do);
# larger ones on a worker thread, so health checks and small requests are not held up behind them.
# The workers are ours (`worker_pool`), not anyio's: born with SIGINT and SIGTERM blocked, so a stop
# signal always reaches the main thread, where Python handles it (see modelpack.threads).
INLINE_BYTES = 64 * 1024


def create_app(model: ServedModel, metrics: ServerMetrics) -> Any:
    """The Starlette application serving `model`.

    Args:
        model: the loaded model.
        metrics: where requests are counted (served at /metrics).

    Returns:
        An ASGI application.
    """
    import asyncio

    from starlette.applications import Starlette
    from starlette.convertors import CONVERTOR_TYPES, register_url_convertor
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response
    from starlette.routing import Route

    if "oip_version" not in CONVERTOR_TYPES:
        register_url_convertor("oip_version", _version_convertor())
    # Idle workers end when the application (and with it the pool) is dropped.
    pool = worker_pool(max(2, os.cpu_count() or 1), "modelpack-infer")

    def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        return Response(dumps(body), status, headers, media_type="application/json")

    def known(request: Request) -> None:
        params = request.path_params
        if not model.answers_to(params["name"], params.get("version")):
            version = f" version {params['version']!r}" if "version" in params else ""
            raise HTTPException(404, f"unknown model {params['name']!r}{version}; this server serves "
                                     f"{model.name!r}" + (f" version {model.version!r}" if model.version else ""))

    async def server_metadata(request: Request) -> Response:
        return json_response(200, {"name": "modelpack", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def live(request: Request) -> Response:
        return json_response(200, {"live": True})

    async def ready(request: Request) -> Response:
        return json_response(200, {"ready": True})

    async def model_metadata(request: Request) -> Response:
        known(request)
        return json_response(200, model.describe())

    async def model_ready(request: Request) -> Response:
        known(request)
        return json_response(200, {"name": model.name, "ready": True})

    async def infer(request: Request) -> Response:
        known(request)
        if request.headers.get("content-encoding", "identity").lower() != "identity":
            raise HTTPException(415, "compressed request bodies are not accepted (send Content-Encoding: identity)")
        try:
            body = await request.body()
        except ClientDisconnect:  # the client left mid-body: nobody to answer (nginx's 499 in /metrics)
            return Response(b"", 499)
        run = functools.partial(_infer, model, body, request.headers.get(binary_tensors.HEADER))
        status, content, headers = run() if len(body) <= INLINE_BYTES else \
            await asyncio.get_running_loop().run_in_executor(pool, run)
        return Response(content, status, headers)

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.exposition(), 200, media_type=CONTENT_TYPE)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        message = exc.detail
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; use {headers.get('Allow', 'GET')}"
        elif exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return json_response(exc.status_code, {"error": message}, headers)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestRefused)
        headers = {name.decode(): value.decode() for name, value in exc.headers}
        return json_response(exc.status, {"error": exc.message}, {**headers, "connection": "close"})

    async def server_error(request: Request, exc: Exception) -> Response:
        log.warning("request failed: %s: %s", type(exc).__name__, exc)
        return json_response(500, {"error": f"internal error ({type(exc).__name__})"})

    model_paths = ("/v2/models/{name}", "/v2/models/{name}/versions/{version:oip_version}")
    routes = [Route("/v2", server_metadata, methods=["GET"]), Route("/v2/health/live", live, methods=["GET"]),
              Route("/v2/health/ready", ready, methods=["GET"]), Route("/metrics", metrics_page, methods=["GET"])]
    for path in model_paths:
        routes += [Route(path, model_metadata, methods=["GET"]), Route(path + "/ready", model_ready, methods=["GET"]),
                   Route(path + "/infer", infer, methods=["POST"])]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, RequestRefused: refused,
                                                       Exception: server_error})
    # Starlette answers a path with a trailing slash with a 307 to a Location built from the client's Host
    # header (another host, for a cache in between); here it is a path like any unknown one: a JSON 404.
    app.router.redirect_slashes = False
    return app


def _version_convertor() -> Any:
    from starlette.convertors import PathConvertor

    class VersionConvertor(PathConvertor):
        """A model version in a path: free text ("1.0 beta/2"), whose "/" a client sends as %2F and the server
        receives decoded; so the rest of the path, but for a trailing "/" (a 404, as every trailing slash) and
        a trailing /ready or /infer (those endpoints', with their 405 for another method)."""

        regex = "[^/](?:.*[^/])?(?<!/ready)(?<!/infer)"

    return VersionConvertor()


def _infer(model: ServedModel, body: bytes, header_length: str | None) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers of the response to an inference request's body."""
    try:
        header, binary = binary_tensors.split_body(body, header_length)
        content, json_length = model.infer(loads(header), binary)
    except (BadRequest, DatatypeError) as exc:
        return 400, dumps({"error": str(exc)}), {"content-type": "application/json"}
    except (RecursionError, OverflowError, MemoryError) as exc:
        return 400, dumps({"error": f"the input does not fit its datatype or nesting: {type(exc).__name__}"}), \
            {"content-type": "application/json"}
    except Exception as exc:  # a bug of ours: still a JSON reply, one log line
        log.warning("inference failed: %s: %s", type(exc).__name__, exc)
        return 500, dumps({"error": f"inference failed ({type(exc).__name__})"}), {"content-type": "application/json"}
    if json_length is None:
        return 200, content, {"content-type": "application/json"}
    return 200, content, {"content-type": "application/octet-stream", binary_tensors.HEADER: str(json_length)}
