"""An in-memory registry answering just what tag deletion and repository listing need, for behaviour
Distribution 2.8 does not have: DELETE of a tag that removes only the tag (OCI distribution-spec 1.1),
a `_catalog` whose `Link` header points back at the page it came from, and repository and tag names
no real registry would accept."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from background_server import BackgroundServer

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class TinyRegistry(BackgroundServer):
    def __init__(self, *, looping_catalog: bool = False, deletes_tags: bool = True) -> None:
        self.manifests: dict[str, bytes] = {}  # digest -> bytes
        self.tags: dict[tuple[str, str], str] = {}  # (repository, tag) -> digest
        self.requests: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _answer(self) -> None:
                with outer._lock:
                    outer.requests.append(f"{self.command} {self.path}")
                path = self.path.split("?")[0]
                if path == "/v2/_catalog":
                    link = {"Link": f'<{self.path}>; rel="next"'} if looping_catalog else {}
                    names = sorted({name for name, _ in outer.tags})
                    return self._send(200, json.dumps({"repositories": names}).encode(), link)
                if path.endswith("/tags/list"):
                    name = path.removeprefix("/v2/").removesuffix("/tags/list")
                    tags = sorted(tag for repo, tag in outer.tags if repo == name)
                    return self._send(200, json.dumps({"name": name, "tags": tags}).encode())
                name, _, version = path.removeprefix("/v2/").partition("/manifests/")
                digest = version if version.startswith("sha256:") else outer.tags.get((name, version))
                if not version or digest not in outer.manifests:
                    return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}')
                if self.command == "DELETE" and version != digest and not deletes_tags:  # as Distribution 2.8
                    return self._send(400, b'{"errors":[{"code":"DIGEST_INVALID","message":"invalid digest"}]}')
                if self.command == "DELETE":
                    with outer._lock:
                        if version == digest:
                            del outer.manifests[digest]
                            outer.tags = {k: v for k, v in outer.tags.items() if v != digest}
                        else:
                            del outer.tags[(name, version)]
                    return self._send(202)
                data = outer.manifests[digest]
                self._send(200, data, {"Content-Type": MANIFEST, "Docker-Content-Digest": digest})

            do_GET = do_HEAD = do_DELETE = _answer

        super().__init__(Handler)

    def add(self, repository: str, *tags: str) -> str:
        """A small manifest under these tags; returns its digest."""
        data = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "layers": [], "config": {
            "mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.manifests[digest] = data
        for tag in tags:
            self.tags[(repository, tag)] = digest
        return digest
