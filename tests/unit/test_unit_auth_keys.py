"""Which auth-file keys may hold a host's credentials for a repository (containers-auth.json(5) order),
and which repository a request path or a token scope is about: every key starts with the host asked
about, namespaces end at a `/`, and a repository named with `blobs` or `tags` components is read whole."""

from __future__ import annotations

import pytest

from modelpack.store.auth_keys import keys_for, legacy_host, repositories_of_scope, repository_of_path


def test_most_specific_first_then_the_host() -> None:
    assert keys_for("quay.io", "team/sub/model") == (
        "quay.io/team/sub/model", "quay.io/team/sub", "quay.io/team", "quay.io", "https://quay.io", "http://quay.io")
    assert keys_for("quay.io") == ("quay.io", "https://quay.io", "http://quay.io")


def test_docker_hub_repositories_are_keyed_under_docker_io() -> None:
    assert keys_for("registry-1.docker.io", "library/busybox")[:2] == ("docker.io/library/busybox", "docker.io/library")


def test_no_key_of_another_host_or_a_sibling_repository() -> None:
    keys = keys_for("reg.example:5000", "team/model")
    assert all(k.removeprefix("https://").removeprefix("http://").startswith("reg.example:5000") for k in keys)
    assert "reg.example:5000/team/model2" not in keys and "reg.example:5000/tea" not in keys


@pytest.mark.parametrize(("path", "repository"), [
    ("/v2/team/model/blobs/sha256:ab", "team/model"),
    ("/v2/team/model/blobs/uploads/1234", "team/model"),
    ("/v2/team/blobs/model/manifests/1", "team/blobs/model"),
    ("/v2/team/tags/model/tags/list", "team/tags/model"),
    ("/v2/", None),
    ("/token", None),
])
def test_the_repository_of_a_request_path(path: str, repository: str | None) -> None:
    assert repository_of_path(path) == repository


def test_the_repositories_of_a_scope() -> None:
    assert repositories_of_scope("repository:team/b:pull,push repository:team/a:pull") == ["team/b", "team/a"]
    assert repositories_of_scope("registry:catalog:*") == []
    assert repositories_of_scope("repository(plugin):team/p:pull") == ["team/p"]


def test_a_legacy_key_names_its_host() -> None:
    assert legacy_host("https://reg.example:5000/v1/") == "reg.example:5000"
    assert legacy_host("reg.example") == "reg.example"
