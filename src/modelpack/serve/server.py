"""The Open Inference Protocol (KServe V2) over REST, on the standard library's HTTP server.

    GET  /v2/health/live, /v2/health/ready, /v2, /v2/models/{name}[/versions/{v}], .../ready
    POST /v2/models/{name}[/versions/{v}]/infer

A malformed request gets 400 (bad JSON, shapes, types) or 404 (unknown model or path), with
`{"error": "..."}` as the protocol specifies.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from modelpack.serve.runtimes import Runtime
from modelpack.version import __version__

log = logging.getLogger("modelpack.serve")
MAX_REQUEST_BYTES = 64 * 1024 * 1024
_MODEL_PATH = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<rest>/infer|/ready)?$")
_V2_TO_NUMPY = {"BOOL": "bool", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
                "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
                "FP16": "float16", "FP32": "float32", "FP64": "float64", "BYTES": "object"}


class BadRequest(Exception):
    pass


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

    def infer(self, request: Any) -> dict[str, Any]:
        import numpy as np

        if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
            raise BadRequest("request must be a JSON object with a non-empty 'inputs' list")
        arrays = {}
        for i, tensor in enumerate(request["inputs"]):
            if not isinstance(tensor, dict):
                raise BadRequest(f"inputs[{i}] must be an object")
            name, shape, datatype, data = (tensor.get(k) for k in ("name", "shape", "datatype", "data"))
            if not isinstance(name, str) or not isinstance(shape, list) or datatype not in _V2_TO_NUMPY:
                raise BadRequest(f"inputs[{i}] needs a name, a shape list and a known datatype")
            if not all(isinstance(d, int) and d >= 0 for d in shape):
                raise BadRequest(f"inputs[{i}].shape must be non-negative integers")
            try:
                array = np.asarray(data, dtype=_V2_TO_NUMPY[datatype])
                arrays[name] = array.reshape(shape)
            except (ValueError, TypeError) as exc:
                raise BadRequest(f"inputs[{i}] ({name}): data does not fit shape {shape} as {datatype}: {exc}") \
                    from None
        try:
            results = self.runtime.predict(arrays)
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"the model refused the input: {exc}") from None
        except Exception as exc:  # runtimes raise their own types for bad input (onnxruntime's Fail, ...)
            raise BadRequest(f"the model refused the input: {type(exc).__name__}: {exc}") from None
        wanted = [o.get("name") for o in request.get("outputs") or [] if isinstance(o, dict)]
        outputs = []
        for name, value in results.items():
            if wanted and name not in wanted:
                continue
            array = np.asarray(value)
            datatype = "BYTES" if array.dtype.kind in "OUS" else _v2_name(array.dtype)
            data = [str(v) for v in array.reshape(-1)] if datatype == "BYTES" else array.reshape(-1).tolist()
            outputs.append({"name": name, "shape": list(array.shape), "datatype": datatype, "data": data})
        response: dict[str, Any] = {"model_name": self.name, "outputs": outputs}
        if self.version:
            response["model_version"] = self.version
        if isinstance(request.get("id"), str):
            response["id"] = request["id"]
        return response


def _v2_name(dtype: Any) -> str:
    for v2, numpy_name in _V2_TO_NUMPY.items():
        if numpy_name == dtype.name:
            return v2
    return "FP64"


def make_server(model: ServedModel, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"modelpack/{__version__}"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), fmt % args)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _model(self) -> tuple[re.Match[str] | None, bool]:
            match = _MODEL_PATH.match(self.path.split("?")[0])
            if not match:
                return None, False
            known = match.group("name") == model.name and match.group("version") in (None, model.version)
            return match, known

        def do_GET(self) -> None:
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
                return self._send(404, {"error": f"no such endpoint: POST {self.path}"})
            if not known:
                return self._send(404, {"error": f"unknown model {match.group('name')!r}"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return self._send(400, {"error": "bad Content-Length"})
            if length <= 0 or length > MAX_REQUEST_BYTES:
                return self._send(400, {"error": f"request body must be 1 to {MAX_REQUEST_BYTES} bytes"})
            try:
                request = json.loads(self.rfile.read(length))
            except ValueError:
                return self._send(400, {"error": "request body is not valid JSON"})
            try:
                return self._send(200, model.infer(request))
            except BadRequest as exc:
                return self._send(400, {"error": str(exc)})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
