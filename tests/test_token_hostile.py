"""A token service is as hostile as the registry it stands for: what it sends as a token goes into the
Authorization header of every request to the registry, so a token holding CR/LF (headers of its own, even a
second Host), escapes or megabytes is refused in one line before anything carries it."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from helpers import modelpack
from hostile_registry import JSON, HostileRegistry, model_content, reply, serve_content

EXIT_AUTH = 4

TOKENS = {
    "crlf": "abc\r\nX-Injected: yes",
    "lf-host": "abc\nHost: evil.example",
    "escape": "abc\x1b]0;pwned\x07",
    "not-ascii": "abc\u202eé",
    "space": "abc def",
    "oversized": "a" * (64 * 1024 + 1),
}


@pytest.mark.parametrize("case", sorted(TOKENS))
def test_a_token_that_cannot_go_into_a_header_is_refused_before_it_is_sent(case: str) -> None:
    content = model_content()
    seen: list[str] = []  # every request's headers, as the registry received them
    with HostileRegistry() as tokens, HostileRegistry() as registry:
        tokens.routes[r"GET /token"] = lambda h: reply(h, 200, json.dumps({"token": TOKENS[case]}), JSON)
        challenge = f'Bearer realm="http://{tokens.host}/token",service="hostile"'

        def guarded(handler: BaseHTTPRequestHandler) -> None:
            seen.append(str(handler.headers))
            if not handler.headers.get("Authorization", "").startswith("Bearer "):
                reply(handler, 401, "{}", {**JSON, "WWW-Authenticate": challenge})
                return
            serve_content(content)(handler)

        registry.routes[r"(GET|HEAD) /v2/m/"] = guarded
        result = modelpack("inspect", "--plain-http", "--remote", f"{registry.host}/m:1", timeout=60)
    assert result.code == EXIT_AUTH, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and f"token service of {registry.host} sent a token that cannot go into a request" \
        in lines[0], result.err
    assert "\x1b" not in result.err and "abc" not in result.err  # the token itself is never shown
    assert not any("Bearer" in headers or "X-Injected" in headers or "evil" in headers for headers in seen), seen


def test_a_jwt_sized_token_still_works() -> None:
    content = model_content()
    token = "eyJ" + "A" * 4000 + ".sig-_~+/="
    with HostileRegistry() as tokens, HostileRegistry() as registry:
        tokens.routes[r"GET /token"] = lambda h: reply(h, 200, json.dumps({"token": token}), JSON)
        challenge = f'Bearer realm="http://{tokens.host}/token",service="hostile"'

        def guarded(handler: BaseHTTPRequestHandler) -> None:
            if handler.headers.get("Authorization", "") != f"Bearer {token}":
                reply(handler, 401, "{}", {**JSON, "WWW-Authenticate": challenge})
                return
            serve_content(content)(handler)

        registry.routes[r"(GET|HEAD) /v2/m/"] = guarded
        result = modelpack("inspect", "--plain-http", "--remote", f"{registry.host}/m:1", timeout=60)
    assert result.code == 0, result.err
    assert "w.bin" in result.out
