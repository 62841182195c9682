"""A registry (or a proxy in front of it) whose answer carries a header line of megabytes, thousands of
headers, or headers of hundreds of KiB in all was reported as unreachable ("cannot connect", "connection
was cut", exit 5) after every retry. Now it is refused at once as what it is: one line saying what the
registry sent, exit 1, no retry. No real registry does this: a small hostile stdlib server answers."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from helpers import modelpack
from hostile_registry import HostileRegistry, model_content, reply, serve_content, weights_digest

CONTENT = model_content(os.urandom(2_000_000))  # a blob this large is streamed (urllib3, not curl)
LAYER = weights_digest(CONTENT)


def _headers(count: int, size: int) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        for i in range(count):
            handler.send_header(f"X-Padding-{i}", "v" * size)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


@pytest.mark.parametrize(("where", "count", "size", "said"), [
    ("manifest", 1, 2 * 1024 * 1024, "sent a response header line over 100 KiB"),
    ("manifest", 6000, 10, "sent more than 5000 response headers"),
    ("manifest", 1000, 400, "sent response headers over 300 KiB"),
    ("blob", 1, 2 * 1024 * 1024, "sent a response header line over 100 KiB"),
    ("blob", 6000, 10, "sent more than 5000 response headers"),
    ("blob", 1000, 400, "sent response headers over 300 KiB"),
], ids=["manifest-line", "manifest-count", "manifest-total", "blob-line", "blob-count", "blob-total"])
def test_oversized_response_headers_are_named_not_called_a_cut_connection(where: str, count: int, size: int,
                                                                          said: str) -> None:
    with HostileRegistry() as registry:
        path = f"GET /v2/a/b/blobs/{LAYER}" if where == "blob" else r"^(GET|HEAD) /v2/a/b/manifests/"
        registry.routes[path] = _headers(count, size)
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(CONTENT)
        run = modelpack("pull", "--plain-http", f"{registry.host}/a/b:1", timeout=60)
        asked = registry.requests(LAYER if where == "blob" else "/manifests/")
    assert run.code == 1, run.err
    assert run.err.strip() == (f"error: registry {registry.host} {said}; refused (the registry or a proxy in front "
                               "of it misbehaves)")
    assert len(asked) == 1  # the same answer would come again: not retried



def _crowded(handler: BaseHTTPRequestHandler, body: bytes, count: int = 4000) -> None:
    """A 200 carrying `body` after `count` headers (as a CDN or an object store may send)."""
    handler.send_response(200)
    for i in range(count):
        handler.send_header(f"X-Cdn-{i}", "v" * 10)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_a_blob_or_token_answer_with_thousands_of_headers_is_read_as_curl_reads_metadata() -> None:
    # http.client refused a 101st header on streamed blobs and tokens, where the curl engine takes 5,000
    weights = CONTENT[LAYER][1]

    def authorized(then: Callable[[BaseHTTPRequestHandler], None]) -> Callable[[BaseHTTPRequestHandler], None]:
        def answer(handler: BaseHTTPRequestHandler) -> None:
            if handler.headers.get("Authorization") == "Bearer t0ken":
                then(handler)
            else:
                reply(handler, 401, b"", {"WWW-Authenticate": f'Bearer realm="http://{registry.host}/token"'})

        return answer

    with HostileRegistry() as registry:
        registry.routes["GET /token"] = lambda h: _crowded(h, json.dumps({"token": "t0ken"}).encode())
        registry.routes[f"GET /v2/a/b/blobs/{LAYER}"] = authorized(lambda h: _crowded(h, weights))
        registry.routes[r"^(GET|HEAD) /v2/"] = authorized(serve_content(CONTENT))
        with tempfile.TemporaryDirectory() as out:
            run = modelpack("pull", "--plain-http", f"{registry.host}/a/b:1", "-o", out + "/m", timeout=60)
            pulled = (Path(out) / "m" / "w.bin").read_bytes() if run.code == 0 else b""
        asked = registry.requests(f"GET /v2/a/b/blobs/{LAYER}")
        tokens = registry.requests("GET /token")
    assert run.code == 0, run.err
    assert pulled == weights
    assert len(asked) == 1 and tokens
