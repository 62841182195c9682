"""`login https://HOST/v2/`: a registry's URL, as its pages and `docker login https://index.docker.io/v1/`
show one, names the host. It was saved as a login for a repository named `v2` ("Login succeeded"), so the
next push to HOST/team/model said "requires authentication; run `modelpack login HOST`" after a login
that had just succeeded. podman and docker take a URL's host alone; so does modelpack now, for `logout`
too. A repository's own login is written without a scheme (`HOST/team/model`), as before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import htpasswd_file, modelpack, own_auth_files
from registry_process import Registry

USER, PASSWORD = "url-login-user", "Url-Login-Pa55-9q"


@pytest.fixture
def locked(fresh_registry: Callable[..., Registry], tmp_path: Path) -> Registry:
    return fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", USER, PASSWORD))


@pytest.mark.parametrize("form", ["https://{host}/v2/", "http://{host}/v1/", "https://{host}/team/model"])
def test_a_url_logs_in_to_its_host(locked: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   form: str) -> None:
    own_auth_files(tmp_path, monkeypatch)
    auth_file = tmp_path / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    target = form.format(host=locked.host)
    run = modelpack("login", "--plain-http", target, "-u", USER, "--password-stdin", stdin=PASSWORD + "\n")
    assert run.code == 0, run.err
    saved = json.loads(auth_file.read_text())["auths"]
    assert list(saved) == [locked.host]

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(1_000))
    pushed = modelpack("push", "--plain-http", str(folder), f"{locked.host}/team/other:1")
    assert pushed.code == 0, pushed.err

    out = modelpack("logout", target)
    assert out.code == 0 and out.out.strip() == f"Removed credentials for {target}", out.err
    assert json.loads(auth_file.read_text())["auths"] == {}
