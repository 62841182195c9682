"""A repository whose name holds an API word as a component (`team/blobs/model`, `team/tags/model`) is a
valid OCI name. Against a bearer-token registry (Distribution `auth: token`) its token must be asked for
that repository, not for the part of its name before the word."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry
from token_server import TokenServer

PASSWORD = "t0ken-Secret"


@pytest.mark.parametrize("name", ["team/blobs/model", "team/tags/model", "team/manifests/referrers/m"])
def test_a_repository_named_with_an_api_word_gets_its_own_scope(fresh_registry: Callable[..., Registry],
                                                                 tmp_path: Path, name: str) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(20_000))
    with TokenServer(tmp_path, {"alice": PASSWORD}, grant_prefix="team/") as tokens:
        reg = fresh_registry(auth_token=tokens.registry_auth())
        assert modelpack("login", "--plain-http", reg.host, "-u", "alice", "--password-stdin",
                         stdin=PASSWORD).code == 0
        pushed = modelpack("push", "--plain-http", str(model), f"{reg.host}/{name}:1")
        assert pushed.code == 0, pushed.err
        pulled = modelpack("pull", "--plain-http", f"{reg.host}/{name}:1", "-o", str(tmp_path / "out"))
        assert pulled.code == 0, pulled.err
        assert all(scope.startswith(f"repository:{name}:") for _, scopes in tokens.requests for scope in scopes)
