"""Bearer-token registries (Distribution `auth: token`): one token per scope, cached and reused;
a push asks for pull,push on its repository; a mount adds pull on the source repository."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack, tree
from registry_process import Registry
from token_server import TokenServer

PASSWORD = "t0ken-Secret"


def logged_in(fresh_registry: Callable[..., Registry], tokens: TokenServer) -> Registry:
    """A registry trusting `tokens`, alice logged in to it (saved in the docker config)."""
    reg = fresh_registry(auth_token=tokens.registry_auth())
    assert modelpack("login", "--plain-http", reg.host, "-u", "alice", "--password-stdin", stdin=PASSWORD).code == 0
    return reg


def test_push_and_pull_with_per_scope_tokens(fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    for i in range(5):
        (model / f"part-{i}.safetensors").write_bytes(os.urandom(50_000))
    with TokenServer(tmp_path, {"alice": PASSWORD}, grant_prefix="team/") as tokens:
        reg = logged_in(fresh_registry, tokens)
        tokens.requests.clear()
        pushed = modelpack("push", "-v", "--plain-http", str(model), f"{reg.host}/team/a:1")
        assert pushed.code == 0, pushed.err
        assert PASSWORD not in pushed.out + pushed.err
        scopes = [tuple(s) for _, s in tokens.requests]
        # Five layers, a config and a manifest moved, yet each scope's token was fetched once.
        assert len(scopes) == len(set(scopes)), scopes
        assert ("repository:team/a:pull,push",) in scopes
        assert all(user == "alice" for user, _ in tokens.requests)

        # Same registry, other repository: the blobs are mounted, which needs a token for two scopes.
        tokens.requests.clear()
        again = modelpack("push", "--plain-http", str(model), f"{reg.host}/team/b:1")
        assert again.code == 0, again.err
        assert ("repository:team/b:pull,push", "repository:team/a:pull") in [tuple(s) for _, s in tokens.requests]

        pulled = modelpack("pull", "--plain-http", f"{reg.host}/team/b:1", "-o", str(tmp_path / "out"))
        assert pulled.code == 0, pulled.err
        assert tree(tmp_path / "out") == tree(model)

        # A repository the token service grants nothing on: refused at once, one clear line.
        denied = modelpack("push", "--plain-http", str(model), f"{reg.host}/other/c:1")
        assert denied.code == 4, denied.err
        assert denied.err.startswith("error: ") and len(denied.err.strip().splitlines()) == 1


def test_a_token_service_refusing_the_password_is_an_authentication_error(
        fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    # The token is fetched while a request is being sent: its refusal must not read as a network failure
    # (it once did: "cannot connect to HOST: connection refused", exit 5, after retries for a bad answer).
    with TokenServer(tmp_path, {"alice": PASSWORD}, grant_prefix="team/") as tokens:
        reg = fresh_registry(auth_token=tokens.registry_auth())
        wrong = modelpack("login", "--plain-http", reg.host, "-u", "alice", "--password-stdin", stdin="nope")
        assert wrong.code == 4, wrong.err
        assert wrong.err.strip() == (f"error: {reg.host} refused the credentials for user 'alice'; check the user "
                                     "name and the password (or the access token, where the registry issues those)")


def test_a_token_service_refusing_saved_credentials_names_the_fix(
        fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    # A password changed since `login`: the line says where the stale one is saved and how to replace it.
    with TokenServer(tmp_path, {"alice": PASSWORD}, grant_prefix="team/") as tokens:
        reg = fresh_registry(auth_token=tokens.registry_auth())
        config = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps({"auths": {reg.host: {"auth": base64.b64encode(b"alice:old").decode()}}}))
        pulled = modelpack("pull", "--plain-http", f"{reg.host}/team/a:1")
        assert pulled.code == 4, pulled.err
        assert pulled.err.strip() == (f"error: {reg.host} refused the credentials for user 'alice' saved in "
                                      f"{config}; run `modelpack login {reg.host}` again")


def test_a_token_service_failing_for_a_moment_is_retried(fresh_registry: Callable[..., Registry],
                                                         tmp_path: Path) -> None:
    # A token service is a web service and fails like one: a 503, a connection cut before any answer.
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(50_000))
    with TokenServer(tmp_path, {"alice": PASSWORD}, grant_prefix="team/") as tokens:
        reg = logged_in(fresh_registry, tokens)
        tokens.failures[:] = [503, 0]
        pushed = modelpack("push", "--plain-http", str(model), f"{reg.host}/team/a:1")
        assert pushed.code == 0, pushed.err
        assert tokens.failures == []  # both failures were met, and retried past

        tokens.failures[:] = [503] * 100  # down for good: the total timeout ends it, with one line
        pulled = modelpack("pull", "--plain-http", "--timeout", "3", f"{reg.host}/team/a:1",
                           "-o", str(tmp_path / "out"))
        assert pulled.code == 4, pulled.err
        assert pulled.err.strip() == f"error: token service of {reg.host} answered HTTP 503", pulled.err
        assert 1 < 100 - len(tokens.failures) <= 6  # retried, within the options' retries and the timeout
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["team/blobs/model", "team/tags/model", "team/manifests/referrers/m"])
def test_a_repository_named_with_an_api_word_gets_its_own_scope(fresh_registry: Callable[..., Registry],
                                                                 tmp_path: Path, name: str) -> None:
    """`team/blobs/model` is a valid OCI name: its token was asked for `team` (the name cut at the first
    API word), and the registry refused the push (exit 4)."""
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(20_000))
    with TokenServer(tmp_path, {"alice": PASSWORD}, grant_prefix="team/") as tokens:
        reg = logged_in(fresh_registry, tokens)
        pushed = modelpack("push", "--plain-http", str(model), f"{reg.host}/{name}:1")
        assert pushed.code == 0, pushed.err
        pulled = modelpack("pull", "--plain-http", f"{reg.host}/{name}:1", "-o", str(tmp_path / "out"))
        assert pulled.code == 0, pulled.err
        assert all(scope.startswith(f"repository:{name}:") for _, scopes in tokens.requests for scope in scopes)
