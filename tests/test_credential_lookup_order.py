"""Where credentials are read from, in containers-auth.json(5)'s order, through the real CLI against real
registries with htpasswd (Basic) auth:

- an auth file's entry for a repository (`host/team/model`) or a namespace (`host/team`) was ignored; now
  the most specific key wins, for requests about that repository only (a sibling `team/model2` and the
  host's other repositories get the host's entry; another host gets nothing of it);
- `~/.dockercfg` (docker's pre-2015 file) was not read; now it is, last;
- `logout` with registries.conf's `containers-auth.json` edited the docker config alone, so credentials a
  `podman login` wrote to the primary auth file kept being sent; now they are removed there too, and a
  file logout leaves alone that still holds some is named;
- `login` returned a path or a program name (`Path | str`); now a `SavedCredentials`.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from helpers import htpasswd_file, modelpack
from registry_process import Registry
from token_server import TokenServer

USER, PASSWORD = "repo-user", "Repo-Pa55-7q"


def _auth(password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{USER}:{password}".encode()).decode()}


@pytest.fixture
def locked(fresh_registry: Callable[..., Registry], tmp_path: Path) -> Registry:
    return fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", USER, PASSWORD))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME (for ~/.dockercfg) and containers auth files of this test's own."""
    folder = tmp_path / "user"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    return folder


def _docker_config(auths: dict[str, dict[str, str]]) -> None:
    Path(os.environ["DOCKER_CONFIG"], "config.json").write_text(json.dumps({"auths": auths}))


def _push(tmp_path: Path, ref: str) -> int:
    folder = tmp_path / ref.replace("/", "_").replace(":", "_")
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(2_000))
    return modelpack("push", "--plain-http", str(folder), ref).code


@pytest.mark.parametrize("key", ["team/model", "team"])
def test_a_repository_or_namespace_entry_wins_for_that_repository_only(locked: Registry, home: Path,
                                                                       tmp_path: Path, key: str) -> None:
    _docker_config({locked.host: _auth("wrong-host-password"), f"{locked.host}/{key}": _auth(PASSWORD),
                    "127.0.0.1:1/team/other": _auth(PASSWORD)})
    assert _push(tmp_path, f"{locked.host}/team/model:1") == 0  # the repository's (or namespace's) entry
    assert _push(tmp_path, f"{locked.host}/elsewhere/model:1") == 4  # the host's entry: refused
    # `team/model` names that repository alone, not `team/model2` (components, not string prefixes)
    assert _push(tmp_path, f"{locked.host}/team/model2:1") == (0 if key == "team" else 4)


def test_the_first_auth_file_with_an_entry_wins_its_most_specific_key(locked: Registry, home: Path,
                                                                      tmp_path: Path) -> None:
    Path(os.environ["CONTAINERS_REGISTRIES_CONF"]).write_text('credential-helpers = ["containers-auth.json"]\n')
    primary = tmp_path / "run" / "containers" / "auth.json"
    primary.parent.mkdir(parents=True)
    primary.write_text(json.dumps({"auths": {f"{locked.host}/team/model": _auth(PASSWORD)}}))
    _docker_config({f"{locked.host}/team/model": _auth("wrong"), locked.host: _auth("wrong")})
    assert _push(tmp_path, f"{locked.host}/team/model:1") == 0  # the primary file's, before the docker config's
    assert _push(tmp_path, f"{locked.host}/other/model:1") == 4  # none in the primary: the docker config's host


@pytest.mark.parametrize("with_containers_auth", [False, True], ids=["docker-config", "containers-auth.json"])
def test_the_legacy_dockercfg_is_read_last(locked: Registry, home: Path, tmp_path: Path,
                                           with_containers_auth: bool) -> None:
    if with_containers_auth:
        Path(os.environ["CONTAINERS_REGISTRIES_CONF"]).write_text('credential-helpers = ["containers-auth.json"]\n')
    (home / ".dockercfg").write_text(json.dumps({f"https://{locked.host}/v1/": {**_auth(PASSWORD),
                                                                              "email": "a@b.c"}}))
    assert _push(tmp_path, f"{locked.host}/t/m:1") == 0
    _docker_config({locked.host: _auth("wrong")})  # any other file's entry comes first
    assert _push(tmp_path, f"{locked.host}/t/n:1") == 4


def test_logout_removes_what_podman_login_wrote_to_the_primary_auth_file(locked: Registry, home: Path,
                                                                         tmp_path: Path) -> None:
    Path(os.environ["CONTAINERS_REGISTRIES_CONF"]).write_text('credential-helpers = ["containers-auth.json"]\n')
    primary = tmp_path / "run" / "containers" / "auth.json"
    primary.parent.mkdir(parents=True)
    primary.write_text(json.dumps({"auths": {locked.host: _auth(PASSWORD), "other.example": _auth("x")}}))
    read_only = tmp_path / "config" / "containers" / "auth.json"
    read_only.parent.mkdir(parents=True)
    read_only.write_text(json.dumps({"auths": {"third.example": _auth("y")}}))
    assert _push(tmp_path, f"{locked.host}/t/m:1") == 0
    out = modelpack("logout", locked.host)
    assert out.code == 0 and out.out.strip() == f"Removed credentials for {locked.host}", out.out + out.err
    assert json.loads(primary.read_text())["auths"] == {"other.example": _auth("x")}  # the rest kept
    assert oct(primary.stat().st_mode & 0o777) == "0o600"
    assert _push(tmp_path, f"{locked.host}/t/n:1") == 4  # nothing sent any more
    # An entry in a file logout does not write is named, not silently left to be sent again.
    read_only.write_text(json.dumps({"auths": {locked.host: _auth(PASSWORD)}}))
    again = modelpack("logout", locked.host)
    assert again.code == 0 and again.out.strip() == f"Not logged in to {locked.host}"
    assert again.err.strip() == (f"warning: credentials for {locked.host} are also in {read_only}, which logout "
                                 "leaves alone: remove them there")


def test_login_says_where_it_saved_in_one_type(locked: Registry, home: Path) -> None:
    saved = mp.login(locked.host, USER, PASSWORD, options=mp.ClientOptions(plain_http=True))
    assert isinstance(saved, mp.SavedCredentials)
    assert saved.auth_file == Path(os.environ["DOCKER_CONFIG"], "config.json") and saved.helper is None
    assert str(saved) == str(saved.auth_file)


def test_a_token_is_asked_for_with_the_entry_of_the_repositories_its_scope_names(
        fresh_registry: Callable[..., Registry], home: Path, tmp_path: Path) -> None:
    """Bearer registries (Distribution `auth: token`): the token service sees the repository's own user
    for that repository, the host's user elsewhere, and the host's when a scope names repositories whose
    entries differ (a mount from another repository)."""
    with TokenServer(tmp_path, {"alice": "alice-Pa55", "bob": "bob-Pa55"}, grant_prefix="team/") as tokens:
        reg = fresh_registry(auth_token=tokens.registry_auth())

        def entry(user: str) -> dict[str, str]:
            return {"auth": base64.b64encode(f"{user}:{user}-Pa55".encode()).decode()}

        _docker_config({reg.host: entry("alice"), f"{reg.host}/team/a": entry("bob")})
        assert _push(tmp_path, f"{reg.host}/team/a:1") == 0
        assert {user for user, _ in tokens.requests} == {"bob"}
        tokens.requests.clear()
        assert _push(tmp_path, f"{reg.host}/team/b:1") == 0
        assert {user for user, _ in tokens.requests} == {"alice"}
        tokens.requests.clear()
        # The same files again into team/b: their blobs are mounted from team/a (a scope naming both).
        folder = tmp_path / "mounted"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes((tmp_path / f"{reg.host}_team_a_1".replace(":", "_") /
                                                    "model.safetensors").read_bytes())
        assert modelpack("push", "--plain-http", str(folder), f"{reg.host}/team/c:1").code == 0
        both = [user for user, scopes in tokens.requests if "repository:team/a:pull" in scopes]
        assert both == ["alice"], tokens.requests  # team/c's entry is the host's, team/a's bob's: the host's


def test_logout_names_a_dockercfg_still_holding_the_hosts_credentials(locked: Registry, home: Path) -> None:
    (home / ".dockercfg").write_text(json.dumps({f"https://{locked.host}/v1/": _auth(PASSWORD)}))
    out = modelpack("logout", locked.host)
    assert out.code == 0 and out.out.strip() == f"Not logged in to {locked.host}"
    assert out.err.strip() == (f"warning: credentials for {locked.host} are also in {home / '.dockercfg'}, which "
                               "logout leaves alone: remove them there")
