"""The Open Inference Protocol (KServe V2) over REST, on the standard library's HTTP server.

    GET  /v2/health/live, /v2/health/ready, /v2, /v2/models/{name}[/versions/{v}], .../ready
    POST /v2/models/{name}[/versions/{v}]/infer

A malformed request gets 400 (bad JSON, shapes, types) or 404 (unknown model or path), an oversized
one 413, one over the server's limits 503, each with `{"error": "..."}` as the protocol specifies.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from modelpack.serve.limits import BoundedHTTPServer, ServerLimits
from modelpack.serve.protocol import BadRequest, dumps, loads, output_tensor, parse_request
from modelpack.serve.runtimes import Runtime
from modelpack.version import __version__

log = logging.getLogger("modelpack.serve")
_MODEL_PATH = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<rest>/infer|/ready)?$")


@dataclass
class ServedModel:
    name: str
    runtime: Runtime
    version: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None

    def describe(self) -> dict[str, Any]:
        inputs, outputs = self.runtime.signature()
        info: dict[str, Any] = {"name": self.name, "versions": [self.version] if self.version else [],
                                "platform": self.runtime.platform, "inputs": inputs, "outputs": outputs}
        parameters: dict[str, Any] = {key: self.metadata[key] for key in ("framework", "format", "metrics", "created")
                      if key in self.metadata}
        if self.digest:
            parameters["digest"] = self.digest
        if parameters:
            info["parameters"] = parameters
        return info

    def output_names(self) -> list[str]:
        return [str(o["name"]) for o in self.runtime.signature()[1]]

    def infer(self, request: Any) -> dict[str, Any]:
        """A protocol response to a decoded request.

        Raises:
            BadRequest: the request breaks the protocol or the model refuses its inputs.
        """
        parsed = parse_request(request, self.output_names())
        try:
            results = self.runtime.predict(parsed.inputs)
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"the model refused the input: {exc}") from None
        except Exception as exc:  # runtimes raise their own types for bad input (onnxruntime's Fail, ...)
            raise BadRequest(f"the model refused the input: {type(exc).__name__}: {exc}") from None
        outputs = [output_tensor(name, value) for name, value in results.items()
                   if not parsed.outputs or name in parsed.outputs]
        response: dict[str, Any] = {"model_name": self.name, "outputs": outputs}
        if self.version:
            response["model_version"] = self.version
        if parsed.id is not None:
            response["id"] = parsed.id
        return response


def make_server(model: ServedModel, host: str, port: int, limits: ServerLimits | None = None) -> BoundedHTTPServer:
    """A server for `model`, bounded by `limits` (see modelpack.serve.limits); call serve_forever()."""
    bounds = limits or ServerLimits()

    class Handler(BaseHTTPRequestHandler):
        server_version = f"modelpack/{__version__}"
        timeout = bounds.request_timeout  # every socket read and write
        server: BoundedHTTPServer
        _body_read = False

        def log_message(self, fmt: str, *args: Any) -> None:
            # The request line is the client's: no terminal control characters reach the log.
            log.info("%s %s", self.address_string(), _printable(fmt % args))

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # The protocol's {"error": ...} body, also for what the base class refuses (bad request line,
            # headers too long, unsupported method).
            self.close_connection = True
            self._send(code, {"error": message or HTTPStatus(code).phrase})
            if self.command == "POST" and not self._body_read:
                self._linger()

        def _linger(self) -> None:
            # Closing with the client's body still arriving would reset the connection and lose the
            # reply: stop sending, then discard what arrives (never stored) for a moment before closing.
            self.wfile.flush()
            try:
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(0.5)
                until = time.monotonic() + 2
                while time.monotonic() < until and self.connection.recv_into(_DISCARD):
                    pass
            except OSError:
                pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _model(self) -> tuple[re.Match[str] | None, bool]:
            match = _MODEL_PATH.match(self.path.split("?")[0])
            if not match:
                return None, False
            known = match.group("name") == model.name and match.group("version") in (None, model.version)
            return match, known

        def do_GET(self) -> None:
            self.server.done_reading(self.connection)
            path = self.path.split("?")[0]
            if path == "/v2/health/live":
                return self._send(200, {"live": True})
            if path == "/v2/health/ready":
                return self._send(200, {"ready": True})
            if path == "/v2":
                return self._send(200, {"name": "modelpack", "version": __version__, "extensions": []})
            match, known = self._model()
            if match is None or match.group("rest") == "/infer":
                return self._send(404, {"error": f"no such endpoint: GET {path}"})
            if not known:
                return self._send(404, {"error": f"unknown model {match.group('name')!r}"})
            if match.group("rest") == "/ready":
                return self._send(200, {"name": model.name, "ready": True})
            return self._send(200, model.describe())

        def do_POST(self) -> None:
            match, known = self._model()
            if match is None or match.group("rest") != "/infer":
                return self.send_error(404, f"no such endpoint: POST {self.path}")
            if not known:
                return self.send_error(404, f"unknown model {match.group('name')!r}")
            if self.headers.get("Transfer-Encoding"):
                return self.send_error(411, "send the body with a Content-Length (chunked bodies are not read)")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return self.send_error(400, "bad Content-Length")
            if length > bounds.max_request_bytes:  # refused before a byte of the body is read
                return self.send_error(413, f"request body of {length} bytes is over the limit of "
                                            f"{bounds.max_request_bytes} bytes")
            if length <= 0:
                return self.send_error(400, "the request needs a JSON body")
            if not self.server.budget.reserve(length, bounds.request_timeout):
                return self.send_error(503, "the server is busy parsing other requests; retry later")
            try:
                body = self.rfile.read(length)
                self._body_read = True
                self.server.done_reading(self.connection)
                if len(body) < length:
                    self.close_connection = True  # cut off (deadline) or the client hung up
                    return None
                self._infer(body)
            finally:
                self.server.budget.release(length)

        def _infer(self, body: bytes) -> None:
            try:
                request = loads(body)
                del body
                return self._send(200, model.infer(request))
            except BadRequest as exc:
                return self._send(400, {"error": str(exc)})
            except (RecursionError, OverflowError) as exc:
                return self._send(400, {"error": f"the input does not fit its datatype or nesting: {exc}"})
            except Exception as exc:  # a bug of ours: still a JSON reply, one log line
                log.warning("inference failed: %s: %s", type(exc).__name__, exc)
                return self._send(500, {"error": f"inference failed ({type(exc).__name__})"})

    return BoundedHTTPServer((host, port), Handler, bounds)


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_DISCARD = bytearray(65536)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
