"""A registry's refusal without an error body (a HEAD answer never has one) is one line that states the
status once: a copy into a Distribution pull-through cache (whose HEAD of a manifest its upstream lacks
answers 500) said `answered HTTP 500 (HTTP 500)`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from helpers import modelpack
from hostile_registry import HostileRegistry, reply
from registry_process import Registry


def test_a_bodiless_refusal_names_the_status_once(fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    origin = fresh_registry()
    cache = fresh_registry(proxy=origin.url)
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(1000))
    src = f"{origin.host}/team/m:1"
    assert modelpack("push", "--plain-http", str(model), src).code == 0
    run = modelpack("copy", "--plain-http", "--timeout", "2", src, f"{cache.host}/other/m:1")
    assert run.code == 1
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    assert lines[0].endswith(f"{cache.host} answered HTTP 500"), run.err


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
