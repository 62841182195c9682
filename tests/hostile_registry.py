"""A loopback "registry" whose every answer a test writes: for behaviour no real registry shows (never
answering, dripping bytes, endless or compressed bodies, redirects to other hosts, pagination loops).

`routes` maps a regular expression over "METHOD /path?query" to a function answering the request; the
first match wins, anything else is a registry's 404 (`GET /v2/`: 200, as every registry answers it).
Every request is recorded with its Authorization header, so tests can check which host saw which
credentials. `stop` is set when the server shuts down: handlers that
stall wait on it rather than on a clock.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from background_server import BackgroundServer
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest

Answer = Callable[[BaseHTTPRequestHandler], None]
JSON = {"Content-Type": "application/json; charset=utf-8"}  # as a registry types its error bodies


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | http.client.HTTPException | TimeoutError):
            super().handle_error(request, client_address)


class HostileRegistry(BackgroundServer):
    def __init__(self, routes: dict[str, Answer] | None = None) -> None:
        self.routes: dict[str, Answer] = dict(routes or {})
        self.seen: list[tuple[str, str]] = []  # ("GET /v2/...", Authorization header or "")
        self.stop = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                line = f"{self.command} {self.path}"
                with outer._lock:
                    outer.seen.append((line, self.headers.get("Authorization", "")))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                for pattern, answer in list(outer.routes.items()):
                    if re.search(pattern, line):
                        answer(self)
                        return
                if line == "GET /v2/":  # what every registry answers (a host that 404s it is none)
                    reply(self, 200, "{}", JSON)
                    return
                reply(self, 404, json.dumps({"errors": [{"code": "NOT_FOUND", "message": "no such thing"}]}), JSON)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _answer

        super().__init__(Handler, _QuietServer)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        super().__exit__(*exc)

    def authorizations(self) -> list[str]:
        with self._lock:
            return [auth for _, auth in self.seen if auth]

    def requests(self, contains: str = "") -> list[str]:
        with self._lock:
            return [line for line, _ in self.seen if contains in line]

    # -- answers ---------------------------------------------------------------------------------
    def never_answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.stop.wait()

    def drip(self, status: int, headers: dict[str, str], length: int, every: float = 0.2) -> Answer:
        """Send the status and headers, then one byte of body every `every` seconds."""

        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(status)
            for key, value in {**headers, "Content-Length": str(length)}.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.flush()
            for _ in range(length):
                if self.stop.wait(every):
                    return
                handler.wfile.write(b"x")
                handler.wfile.flush()

        return answer

    def drip_headers(self, handler: BaseHTTPRequestHandler, every: float = 0.2) -> None:
        """A status line, then a header that never ends, one byte at a time."""
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        while not self.stop.wait(every):
            handler.wfile.write(b"x")
            handler.wfile.flush()

    def endless(self, status: int, headers: dict[str, str] | None = None, limit: int = 3 << 30) -> Answer:
        """A body with no length that goes on (up to `limit` bytes, so a failing test stays bounded)."""

        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(status)
            for key, value in (headers or {"Content-Type": "application/json"}).items():
                handler.send_header(key, value)
            handler.send_header("Connection", "close")
            handler.end_headers()
            piece = b'{"errors":[' + b" " * (1 << 16)
            sent = 0
            while sent < limit and not self.stop.is_set():
                handler.wfile.write(piece)
                sent += len(piece)
            handler.close_connection = True

        return answer


def reply(handler: BaseHTTPRequestHandler, status: int, body: bytes | str = b"",
          headers: dict[str, str] | None = None) -> None:
    """A complete answer with a Content-Length (no body on HEAD)."""
    data = body.encode() if isinstance(body, str) else body
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)


def serve_content(content: dict[str, tuple[str, bytes]]) -> Answer:
    """Answer GET/HEAD of /v2/<name>/(manifests|blobs)/<key> from `content` (key -> (media type, bytes))."""
    import hashlib

    def answer(handler: BaseHTTPRequestHandler) -> None:
        key = handler.path.split("?")[0].rsplit("/", 1)[-1]
        if key not in content:
            reply(handler, 404, json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": key}]}), JSON)
            return
        media_type, data = content[key]
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        reply(handler, 200, data, {"Content-Type": media_type, "Docker-Content-Digest": digest})

    return answer


RAW = "application/vnd.cncf.model.weight.v1.raw"
MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def model_content(blob: bytes = b"weights" * 100) -> dict[str, tuple[str, bytes]]:
    """A one-file ModelPack model: tag "1" -> manifest, and its config and layer by digest."""
    config = b'{"descriptor":{"name":"m"},"config":{},"modelfs":{"type":"layers","diffIds":[]}}'
    config_desc = Descriptor(mediaType=MODEL_CONFIG, digest=digests.of_bytes(config), size=len(config))
    layer = Descriptor(mediaType=RAW, digest=digests.of_bytes(blob), size=len(blob),
                       annotations={"org.cncf.model.filepath": "w.bin"})
    manifest = Manifest(artifactType="application/vnd.cncf.model.manifest.v1+json", config=config_desc,
                        layers=[layer]).canonical_bytes()
    return {"1": (OCI_MANIFEST, manifest), digests.of_bytes(manifest): (OCI_MANIFEST, manifest),
            config_desc.digest: (MODEL_CONFIG, config), layer.digest: ("application/octet-stream", blob)}


def weights_digest(content: dict[str, tuple[str, bytes]]) -> str:
    """The digest of the weights blob in `model_content()`."""
    return next(key for key, (media, _) in content.items() if media == "application/octet-stream")


def crafted_model(*, config: bytes | None = None, layers: list[dict[str, Any]] | None = None,
                  annotations: dict[str, Any] | None = None, drop: tuple[str, ...] = (),
                  tags: tuple[str, ...] = ("1",)) -> dict[str, tuple[str, bytes]]:
    """A model whose manifest a test writes field by field, for `serve_content`: `config` replaces the
    config blob, `layers` the layer descriptors (their blobs: `layer_blob(...)` entries added by the
    caller), `annotations` the manifest's, and `drop` removes top-level fields. Tags name the manifest."""
    config = config if config is not None else b'{"descriptor":{"name":"m"},"config":{},"modelfs":{"type":"layers"}}'
    blob = b"weights" * 100
    default_layer = {"mediaType": RAW, "digest": digests.of_bytes(blob), "size": len(blob),
                     "annotations": {"org.cncf.model.filepath": "w.bin"}}
    manifest: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.cncf.model.manifest.v1+json",
        "config": {"mediaType": MODEL_CONFIG, "digest": digests.of_bytes(config), "size": len(config)},
        "layers": [default_layer] if layers is None else layers}
    if annotations is not None:
        manifest["annotations"] = annotations
    for key in drop:
        manifest.pop(key, None)
    data = json.dumps(manifest).encode()
    content = {digests.of_bytes(data): (OCI_MANIFEST, data), digests.of_bytes(config): (MODEL_CONFIG, config),
               digests.of_bytes(blob): ("application/octet-stream", blob)}
    content.update({tag: (OCI_MANIFEST, data) for tag in tags})
    return content


def raw_layer(path: str | None, data: bytes) -> tuple[dict[str, Any], tuple[str, tuple[str, bytes]]]:
    """A raw-file layer descriptor naming `path` (none when None), and its content entry."""
    desc: dict[str, Any] = {"mediaType": RAW, "digest": digests.of_bytes(data), "size": len(data)}
    if path is not None:
        desc["annotations"] = {"org.cncf.model.filepath": path}
    return desc, (digests.of_bytes(data), ("application/octet-stream", data))


def serve_tags(tags: list[str]) -> Answer:
    """Answer /v2/<name>/tags/list with `tags`."""
    return lambda handler: reply(handler, 200, json.dumps({"tags": tags}), {"Content-Type": "application/json"})
