"""A loopback HTTP server that answers every request with a fixed status, for error-path tests
(a registry refusing us with 403, failing with 5xx). It counts the requests it received. `v2`: the status of
`GET /v2/` instead, when given (a registry answers it: one that 404s it too is no registry, said as such)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

from background_server import BackgroundServer


class FaultyServer(BackgroundServer):
    def __init__(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"",
                 v2: int | None = None) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests.append(f"{self.command} {self.path}")
                self.send_response(v2 if v2 is not None and self.path == "/v2/" else status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)
