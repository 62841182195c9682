"""The containers auth files with no registries.conf `credential-helpers` (containers/image's default list is
`containers-auth.json` alone): `$REGISTRY_AUTH_FILE`, where podman, skopeo and buildah log in, and
`$XDG_RUNTIME_DIR/containers/auth.json` were read only when registries.conf named `containers-auth.json`,
so a `skopeo login` left modelpack anonymous (exit 4), and `login` wrote the docker config, which skopeo
given `REGISTRY_AUTH_FILE` does not read. Now they are read first, in containers-auth.json(5)'s order (then
`~/.config/containers/auth.json`, the docker config with its `credsStore`, `~/.dockercfg`); `login` writes
`$REGISTRY_AUTH_FILE` when set, else the first auth file read that holds the host already (so the new
password is the one sent), else the docker config as before (docker, oras and crane read it too).

`logout HOST/NS/REPO` was refused ("not a registry host"), though auth files hold such entries and the most
specific one is read first: it now removes that entry alone, as `podman logout` does; `logout HOST` the
host's own, leaving its repositories' entries."""

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

USER, PASSWORD, OLD = "podman-user", "Podman-Pa55-3k", "Old-Pa55-8z"


@pytest.fixture
def locked(fresh_registry: Callable[..., Registry], tmp_path: Path) -> Registry:
    return fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", USER, PASSWORD))


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Auth files of this test's own (registries.conf, from conftest, names no credential-helpers); the
    `$XDG_RUNTIME_DIR/containers/auth.json` path."""
    assert "credential-helpers" not in Path(os.environ["CONTAINERS_REGISTRIES_CONF"]).read_text()
    return own_auth_files(tmp_path, monkeypatch)


def _skopeo(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.skip("skopeo is not installed")
    return subprocess.run([skopeo, *args], capture_output=True, text=True, timeout=60, input=stdin,
                          env=dict(os.environ))


def _entry(password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{USER}:{password}".encode()).decode()}


def _push(tmp_path: Path, ref: str) -> int:
    folder = tmp_path / ref.replace("/", "_").replace(":", "_")
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(2_000))
    return modelpack("push", "--plain-http", str(folder), ref).code


def _docker_config() -> Path:
    return Path(os.environ["DOCKER_CONFIG"], "config.json")


@pytest.mark.parametrize("chosen", [True, False], ids=["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"])
def test_what_skopeo_login_wrote_is_read(locked: Registry, runtime: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, chosen: bool) -> None:
    written = tmp_path / "ci" / "auth.json" if chosen else runtime
    docker = _docker_config()
    if chosen:
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(written))
    else:  # skopeo login writes $DOCKER_CONFIG/config.json when that is set, else the runtime file
        monkeypatch.delenv("DOCKER_CONFIG")
    said = _skopeo("login", "--tls-verify=false", "-u", USER, "--password-stdin", locked.host, stdin=PASSWORD)
    assert said.returncode == 0, said.stderr
    assert locked.host in json.loads(written.read_text())["auths"]
    assert _push(tmp_path, f"{locked.host}/t/m:1") == 0
    assert not docker.exists() and not (tmp_path / "user" / ".docker").exists()


def test_login_writes_registry_auth_file_which_skopeo_reads(locked: Registry, runtime: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = tmp_path / "ci" / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(chosen))
    run = modelpack("login", "--plain-http", locked.host, "-u", USER, "--password-stdin", stdin=PASSWORD + "\n")
    assert run.code == 0, run.err
    assert str(chosen) in run.out
    assert json.loads(chosen.read_text())["auths"] == {locked.host: _entry(PASSWORD)}
    assert chosen.stat().st_mode & 0o777 == 0o600
    assert not _docker_config().exists() and not runtime.exists()
    assert _push(tmp_path, f"{locked.host}/t/m:1") == 0
    read = _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{locked.host}/t/m:1")
    assert read.returncode == 0, read.stderr
    assert modelpack("logout", locked.host).code == 0
    assert json.loads(chosen.read_text())["auths"] == {}
    assert _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{locked.host}/t/m:1").returncode != 0


def test_login_replaces_the_entry_read_first_and_else_writes_the_docker_config(
        locked: Registry, runtime: Path, tmp_path: Path) -> None:
    runtime.parent.mkdir(mode=0o700)
    runtime.write_text(json.dumps({"auths": {locked.host: _entry(OLD), "quay.io": _entry("other")}}))
    assert _push(tmp_path, f"{locked.host}/t/before:1") == 4  # the stale password, read first
    run = modelpack("login", "--plain-http", locked.host, "-u", USER, "--password-stdin", stdin=PASSWORD + "\n")
    assert run.code == 0, run.err
    assert str(runtime) in run.out
    assert json.loads(runtime.read_text())["auths"] == {locked.host: _entry(PASSWORD), "quay.io": _entry("other")}
    assert not _docker_config().exists()
    assert _push(tmp_path, f"{locked.host}/t/m:1") == 0
    # No auth file holds the host: the docker config, as before (docker, oras, crane read it).
    runtime.write_text(json.dumps({"auths": {}}))
    run = modelpack("login", "--plain-http", locked.host, "-u", USER, "--password-stdin", stdin=PASSWORD + "\n")
    assert run.code == 0 and str(_docker_config()) in run.out, run.out + run.err
    assert json.loads(_docker_config().read_text())["auths"] == {locked.host: _entry(PASSWORD)}


def test_logout_of_a_repository_removes_its_entry_alone(locked: Registry, runtime: Path, tmp_path: Path) -> None:
    runtime.parent.mkdir(mode=0o700)
    auths = {f"{locked.host}/team/model": _entry(PASSWORD), f"{locked.host}/team": _entry(OLD),
             locked.host: _entry(OLD)}
    runtime.write_text(json.dumps({"auths": auths}))
    assert _push(tmp_path, f"{locked.host}/team/model:1") == 0  # the repository's own entry, read first
    assert _push(tmp_path, f"{locked.host}/team/other:1") == 4  # the namespace's (stale) before the host's

    out = modelpack("logout", f"{locked.host}/team/model")
    assert (out.code, out.out, out.err) == (0, f"Removed credentials for {locked.host}/team/model\n", "")
    assert set(json.loads(runtime.read_text())["auths"]) == {f"{locked.host}/team", locked.host}
    assert _push(tmp_path, f"{locked.host}/team/model:2") == 4  # now the namespace's

    again = modelpack("logout", f"{locked.host}/team/model")
    assert (again.code, again.out) == (0, f"Not logged in to {locked.host}/team/model\n"), again.err
    host = modelpack("logout", locked.host)
    assert host.code == 0 and host.out == f"Removed credentials for {locked.host}\n", host.err
    assert set(json.loads(runtime.read_text())["auths"]) == {f"{locked.host}/team"}  # its repositories' stay
    refused = modelpack("logout", f"{locked.host}/Team/x:1")
    assert refused.code == 2 and refused.err.startswith("error: ") and len(refused.err.splitlines()) == 1
