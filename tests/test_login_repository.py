"""`login HOST/NS/REPO`: a repository's own login, as `podman login quay.io/ns/repo` takes it. It was
refused ("not a registry host"), though auth files hold such keys, lookups read the most specific one first
and `logout HOST/NS/REPO` removed one. Now the credentials are checked against the registry (a token
registry is asked for a token to pull that repository) and saved under the key `HOST/NS/REPO` in
`$REGISTRY_AUTH_FILE`, else in `$XDG_RUNTIME_DIR/containers/auth.json` even where a host's login writes the
docker config: podman writes such keys only there, and docker, oras and crane, which read the docker
config, look credentials up by host alone. A credential helper never takes them (helpers keep hosts):
such a login is refused in one line before the registry is asked. skopeo is the other reader checked.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import htpasswd_file, modelpack, own_auth_files
from registry_process import Registry
from token_server import TokenServer

USER, PASSWORD = "repo-login-user", "Repo-Login-Pa55-4m"


@pytest.fixture
def locked(fresh_registry: Callable[..., Registry], tmp_path: Path) -> Registry:
    return fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", USER, PASSWORD))


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Auth files of this test's own, the docker config at `~/.docker/config.json` (no DOCKER_CONFIG:
    skopeo would take that file as its only primary one); the `$XDG_RUNTIME_DIR/containers/auth.json` path."""
    primary = own_auth_files(tmp_path, monkeypatch)
    monkeypatch.delenv("DOCKER_CONFIG")
    return primary


def _docker_config() -> Path:
    return Path(os.environ["HOME"], ".docker", "config.json")


def _entry(password: str, user: str = USER) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def _login(target: str, password: str = PASSWORD, user: str = USER) -> tuple[int, str, str]:
    run = modelpack("login", "--plain-http", target, "-u", user, "--password-stdin", stdin=password + "\n")
    return run.code, run.out, run.err


def _push(tmp_path: Path, ref: str) -> int:
    folder = tmp_path / ref.replace("/", "_").replace(":", "_")
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(2_000))
    return modelpack("push", "--plain-http", str(folder), ref).code


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.skip("skopeo is not installed")
    return subprocess.run([skopeo, *args], capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_a_repository_login_is_used_for_that_repository_alone(locked: Registry, runtime: Path,
                                                              tmp_path: Path) -> None:
    host = locked.host
    docker = _docker_config()
    docker.parent.mkdir()
    docker.write_text(json.dumps({"auths": {host: _entry("stale-host-password")}}))
    code, out, err = _login(f"{host}/team/model")
    assert code == 0, err
    assert out.strip() == f"Login succeeded (credentials saved in {runtime})"
    # The repository's key, in the file podman writes; the host's entry in the docker config left as it was.
    assert json.loads(runtime.read_text())["auths"] == {f"{host}/team/model": _entry(PASSWORD)}
    assert runtime.stat().st_mode & 0o777 == 0o600
    assert json.loads(docker.read_text())["auths"] == {host: _entry("stale-host-password")}

    assert _push(tmp_path, f"{host}/team/model:1") == 0  # the repository's entry, most specific, wins
    assert _push(tmp_path, f"{host}/team/other:1") == 4  # another repository: the host's (stale) entry
    assert _push(tmp_path, f"{host}/team/model2:1") == 4  # `team/model` is not a prefix of `team/model2`
    # Another host (the same registry under another name) gets nothing of it: not logged in there.
    elsewhere = modelpack("push", "--plain-http", str(tmp_path / f"{host}_team_model_1".replace(":", "_")),
                          f"localhost:{host.rsplit(':', 1)[1]}/team/model:1")
    assert elsewhere.code == 4 and "requires authentication" in elsewhere.err, elsewhere.err

    # skopeo reads the same key for that repository (inspect; copy, which pulls and pushes there) and
    # the host's stale entry for another.
    tls = "--tls-verify=false"
    inspected = _skopeo("inspect", "--raw", tls, f"docker://{host}/team/model:1")
    assert inspected.returncode == 0, inspected.stderr
    copied = _skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                     f"docker://{host}/team/model:1", f"docker://{host}/team/model:copied")
    assert copied.returncode == 0, copied.stderr
    assert modelpack("pull", "--plain-http", f"{host}/team/model:copied", "-o", str(tmp_path / "out")).code == 0
    assert _skopeo("inspect", "--raw", tls, f"docker://{host}/team/other:1").returncode != 0

    # logout of the repository removes its key alone; the host's entry stays, and is what is sent now.
    out_run = modelpack("logout", f"{host}/team/model")
    assert out_run.code == 0 and out_run.out.strip() == f"Removed credentials for {host}/team/model"
    assert json.loads(runtime.read_text())["auths"] == {}
    assert json.loads(docker.read_text())["auths"] == {host: _entry("stale-host-password")}
    assert _push(tmp_path, f"{host}/team/model:2") == 4
    assert _skopeo("inspect", "--raw", tls, f"docker://{host}/team/model:1").returncode != 0


def test_a_repository_login_refused_writes_nothing(locked: Registry, runtime: Path) -> None:
    code, out, err = _login(f"{locked.host}/team/model", "wrong-password")
    assert (code, out) == (4, ""), err
    assert err.strip().startswith(f"error: {locked.host} refused the credentials for user {USER!r}")
    assert len(err.strip().splitlines()) == 1
    assert not runtime.exists() and not _docker_config().exists()


def test_a_token_registry_is_asked_for_pulling_that_repository(fresh_registry: Callable[..., Registry],
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Distribution `auth: token`: the login's token request names the repository (pull), with the
    repository's user; `$REGISTRY_AUTH_FILE` is written, beside the host's entry there, which the
    repository's outvotes for that repository alone."""
    chosen = tmp_path / "ci" / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(chosen))
    with TokenServer(tmp_path, {"alice": "alice-Pa55", "bob": "bob-Pa55"}, grant_prefix="team/") as tokens:
        reg = fresh_registry(auth_token=tokens.registry_auth())
        assert _login(reg.host, "alice-Pa55", "alice")[0] == 0
        tokens.requests.clear()
        code, out, err = _login(f"{reg.host}/team/a", "bob-Pa55", "bob")
        assert code == 0 and str(chosen) in out, err
        assert tokens.requests == [("bob", ["repository:team/a:pull"])]
        assert json.loads(chosen.read_text())["auths"] == {reg.host: _entry("alice-Pa55", "alice"),
                                                           f"{reg.host}/team/a": _entry("bob-Pa55", "bob")}
        tokens.requests.clear()
        assert _push(tmp_path, f"{reg.host}/team/a:1") == 0
        assert {user for user, _ in tokens.requests} == {"bob"}
        tokens.requests.clear()
        assert _push(tmp_path, f"{reg.host}/team/b:1") == 0
        assert {user for user, _ in tokens.requests} == {"alice"}
        # A wrong password: the token service refuses it, nothing is written.
        before = chosen.read_text()
        assert _login(f"{reg.host}/team/c", "wrong", "bob")[0] == 4
        assert chosen.read_text() == before
        assert modelpack("logout", f"{reg.host}/team/a").code == 0
        assert json.loads(chosen.read_text())["auths"] == {reg.host: _entry("alice-Pa55", "alice")}


@pytest.mark.parametrize("setup", ["docker-config-creds-store", "auth-file-cred-helpers", "registries-conf-helpers"])
def test_a_repository_login_no_helper_can_keep_is_refused_before_asking(runtime: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        setup: str) -> None:
    host = "127.0.0.1:9"  # nothing listens: refused before any request
    if setup == "docker-config-creds-store":  # $REGISTRY_AUTH_FILE naming the docker config, as podman allows
        written = _docker_config()
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(written))
        config = {"auths": {}, "credsStore": "secretservice"}
        said = f"docker config {written} names the credential helper 'secretservice' for {host}"
    elif setup == "auth-file-cred-helpers":
        written = runtime
        config = {"auths": {}, "credHelpers": {host: "pass"}}
        said = f"auth file {written} names the credential helper 'pass' for {host}"
    else:
        written = runtime
        config = {"auths": {}}
        Path(os.environ["CONTAINERS_REGISTRIES_CONF"]).write_text('credential-helpers = ["pass"]\n')
        said = "registries.conf's credential-helpers name only helper programs"
    written.parent.mkdir(parents=True, exist_ok=True)
    written.write_text(json.dumps(config))
    code, out, err = _login(f"{host}/team/model")
    assert (code, out) == (2, ""), err
    assert err.startswith(f"error: {said}") and len(err.strip().splitlines()) == 1, err
    assert "not a repository's" in err
    assert json.loads(written.read_text()) == config
