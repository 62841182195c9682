"""A registry's refusal without an error body (a HEAD answer never has one) is one line that states the
status once: a copy into a Distribution pull-through cache (whose HEAD of a manifest its upstream lacks
answers 500) said `answered HTTP 500 (HTTP 500)`. (That 500 is now read as the origin's 404 it relays, see
test_pull_through_cache_writes; a registry's own bodiless 500 stands.)"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from helpers import modelpack
from hostile_registry import HostileRegistry, reply


def test_a_bodiless_refusal_names_the_status_once() -> None:
    def failing(handler: BaseHTTPRequestHandler) -> None:
        reply(handler, 500, "")  # no body: no code, no message (as any HEAD's answer)

    with HostileRegistry({r"/manifests/": failing}) as server:
        run = modelpack("resolve", "--plain-http", "--timeout", "2", f"{server.host}/team/m:1")
    assert run.code == 1
    assert any(line.startswith("HEAD ") for line in server.requests("/manifests/")), server.requests()
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    assert lines[0].endswith(f"{server.host} answered HTTP 500"), run.err


def test_a_deadline_met_while_retrying_an_answer_reports_that_answer(tmp_path: Path) -> None:
    # A registry that answers 503 and then goes quiet: the total timeout ends the retries, and the line
    # names the answer the registry gave (the news), not that the last retry, begun with little time
    # left, did not answer (a token service's retries said so on a loaded CI machine).
    first: list[str] = []

    def flaky(handler: BaseHTTPRequestHandler) -> None:
        if not first:
            first.append(handler.path)
            reply(handler, 503, json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "overloaded"}]}))
        else:
            server.never_answer(handler)

    with HostileRegistry({r"/manifests/": flaky}) as server:
        run = modelpack("pull", "--plain-http", "--timeout", "2", f"{server.host}/team/m:1",
                        "-o", str(tmp_path / "out"))
    assert len(first) == 1 and len(server.requests("/manifests/")) >= 2, server.requests()
    lines = run.err.splitlines()
    assert len(lines) == 1 and "answered HTTP 503" in lines[0] and "overloaded" in lines[0], run.err
    assert not (tmp_path / "out").exists()
