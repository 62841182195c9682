"""`login` where registries.conf's `credential-helpers` names `containers-auth.json`: credentials are read
from the primary auth file first (`$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`), but
`login` wrote the docker config, so an entry an earlier `podman login` left in the primary file (a password
since changed) went on being sent after a successful `modelpack login`, and podman/skopeo, which read the
primary file first too, did the same. Now `login` writes the primary file, as podman, skopeo and buildah do
(containers-auth.json(5): "the primary (read/write) file"); skopeo is the reader checked here."""

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

USER, PASSWORD, OLD = "auth-user", "New-Pa55-9x", "Old-Pa55-1a"


@pytest.fixture
def locked(fresh_registry: Callable[..., Registry], tmp_path: Path) -> Registry:
    return fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", USER, PASSWORD))


@pytest.fixture
def containers_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """registries.conf naming `containers-auth.json`, with auth files of this test's own; the primary one's path."""
    Path(os.environ["CONTAINERS_REGISTRIES_CONF"]).write_text('credential-helpers = ["containers-auth.json"]\n')
    return own_auth_files(tmp_path, monkeypatch)


def _entry(password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{USER}:{password}".encode()).decode()}


def _login(host: str, password: str = PASSWORD) -> tuple[int, str, str]:
    run = modelpack("login", "--plain-http", host, "-u", USER, "--password-stdin", stdin=password + "\n")
    return run.code, run.out, run.err


def _push(tmp_path: Path, ref: str) -> int:
    folder = tmp_path / ref.rsplit("/", 1)[-1].replace(":", "_")
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(2_000))
    return modelpack("push", "--plain-http", str(folder), ref).code


def _skopeo_reads(ref: str) -> subprocess.CompletedProcess[str]:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.skip("skopeo is not installed")
    # skopeo takes REGISTRY_AUTH_FILE (else $XDG_RUNTIME_DIR/containers/auth.json) as its --authfile
    return subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_login_replaces_a_stale_entry_in_the_primary_auth_file(locked: Registry, containers_auth: Path,
                                                               tmp_path: Path) -> None:
    containers_auth.parent.mkdir(mode=0o700)
    containers_auth.write_text(json.dumps({"auths": {locked.host: _entry(OLD), "quay.io": _entry("other")}}))
    assert _push(tmp_path, f"{locked.host}/t/before:1") == 4  # the old password, read first, is refused
    code, out, err = _login(locked.host)
    assert code == 0, err
    assert str(containers_auth) in out
    auths = json.loads(containers_auth.read_text())["auths"]
    assert auths == {locked.host: _entry(PASSWORD), "quay.io": _entry("other")}  # the other entry kept
    assert containers_auth.stat().st_mode & 0o777 == 0o600
    assert not Path(os.environ["DOCKER_CONFIG"], "config.json").exists()
    assert _push(tmp_path, f"{locked.host}/t/m:1") == 0
    skopeo = _skopeo_reads(f"{locked.host}/t/m:1")
    assert skopeo.returncode == 0, skopeo.stderr
    assert modelpack("logout", locked.host).code == 0
    assert locked.host not in json.loads(containers_auth.read_text())["auths"]
    assert _skopeo_reads(f"{locked.host}/t/m:1").returncode != 0


def test_login_writes_the_file_registry_auth_file_names(locked: Registry, containers_auth: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = tmp_path / "ci" / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(chosen))
    code, out, err = _login(locked.host)
    assert code == 0, err
    assert str(chosen) in out
    assert json.loads(chosen.read_text())["auths"] == {locked.host: _entry(PASSWORD)}
    assert not containers_auth.exists() and not Path(os.environ["DOCKER_CONFIG"], "config.json").exists()
    assert _push(tmp_path, f"{locked.host}/t/m:1") == 0
    skopeo = _skopeo_reads(f"{locked.host}/t/m:1")
    assert skopeo.returncode == 0, skopeo.stderr


def test_a_refused_login_leaves_the_primary_auth_file_as_it_was(locked: Registry, containers_auth: Path) -> None:
    containers_auth.parent.mkdir(mode=0o700)
    before = json.dumps({"auths": {locked.host: _entry(PASSWORD)}})
    containers_auth.write_text(before)
    code, _, err = _login(locked.host, "wrong")
    assert code == 4 and len(err.strip().splitlines()) == 1, err
    assert containers_auth.read_text() == before
