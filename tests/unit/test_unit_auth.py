"""WWW-Authenticate parsing and scope merging."""

from __future__ import annotations

import pytest

from modelpack.store.auth import Challenge, merge_scopes, parse_challenge


def test_parse_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/ubuntu:pull"'
    )
    assert parse_challenge(header) == Challenge(
        "bearer", "https://auth.docker.io/token", "registry.docker.io", "repository:library/ubuntu:pull"
    )


def test_parse_challenge_keeps_commas_and_equals_inside_quotes() -> None:
    header = 'Bearer realm="https://auth.example.com/token?a=b,c=d",scope="repository:org/m:pull,push",service="x"'
    challenge = parse_challenge(header)
    assert challenge is not None
    assert challenge.realm == "https://auth.example.com/token?a=b,c=d"
    assert challenge.scope == "repository:org/m:pull,push"
    assert challenge.service == "x"


def test_parse_challenge_scheme_and_keys_are_case_insensitive_and_spaces_allowed() -> None:
    challenge = parse_challenge('  BEARER Realm="https://r/token", SERVICE="svc"  ')
    assert challenge == Challenge("bearer", "https://r/token", "svc", "")


def test_parse_challenge_unquoted_values() -> None:
    challenge = parse_challenge("Bearer realm=https://r/token,service=svc,scope=repository:a:pull")
    assert challenge == Challenge("bearer", "https://r/token", "svc", "repository:a:pull")


def test_parse_basic_challenge() -> None:
    assert parse_challenge('Basic realm="Registry Realm"') == Challenge("basic", "Registry Realm")


def test_parse_scheme_only() -> None:
    assert parse_challenge("Bearer") == Challenge("bearer")


def test_parse_empty_quoted_values() -> None:
    assert parse_challenge('Bearer realm="",service=""') == Challenge("bearer")


@pytest.mark.parametrize("header", ["", "   "])
def test_parse_empty_header(header: str) -> None:
    assert parse_challenge(header) is None


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (("repository:a:pull repository:a:push",), "repository:a:pull,push"),
        (("repository:a:push", "repository:a:pull"), "repository:a:pull,push"),
        (("repository:a:push,pull",), "repository:a:pull,push"),
        (("repository:a:pull", "repository:a:pull"), "repository:a:pull"),
        (("repository:a:pull", "repository:b:pull,push"), "repository:a:pull repository:b:pull,push"),
        (("repository:b:pull", "repository:a:pull"), "repository:b:pull repository:a:pull"),
        (("repository:localhost:5000/m:pull",), "repository:localhost:5000/m:pull"),
        (("repository:a:*",), "repository:a:*"),
        (("registry:catalog:*", "repository:a:pull"), "registry:catalog:* repository:a:pull"),
        (("",), ""),
        ((), ""),
        (("nonsense",), ""),
        (("  repository:a:pull   repository:a:delete  ",), "repository:a:delete,pull"),
    ],
)
def test_merge_scopes(scopes: tuple[str, ...], expected: str) -> None:
    assert merge_scopes(*scopes) == expected


def test_merge_scopes_is_idempotent() -> None:
    once = merge_scopes("repository:a:push repository:b:pull", "repository:a:pull")
    assert merge_scopes(once) == once
    assert merge_scopes(once, once) == once
