"""`modelpack.login` from a library: it checks the credentials on a copy of the caller's options (which
other threads may share), and leaves no connection or transfer thread behind."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from conftest import AUTH_PASSWORD, AUTH_USER
from helpers import htpasswd_file
from modelpack.errors import AuthenticationError
from registry_process import Registry


def _open_files() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the listing's own descriptor, closed already
            continue
    return {target for target in found if target.startswith(("pipe:", "socket:"))}


def test_login_leaves_the_callers_options_and_nothing_open(fresh_registry: Callable[..., Registry],
                                                          tmp_path: Path) -> None:
    reg = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", AUTH_USER, AUTH_PASSWORD))
    options = mp.ClientOptions(plain_http=True)
    files, threads = _open_files(), set(threading.enumerate())
    with pytest.raises(AuthenticationError):
        mp.login(reg.host, AUTH_USER, "wrong", options=options)
    saved = mp.login(reg.host, AUTH_USER, AUTH_PASSWORD, options=options)
    assert options.credentials is None  # another thread's calls with these options are not logged in by it
    assert saved.helper is None and saved.auth_file is not None
    assert reg.host in json.loads(saved.auth_file.read_text())["auths"]
    assert _open_files() - files == set()
    assert [t.name for t in set(threading.enumerate()) - threads] == []


def test_login_and_logout_write_through_a_symlinked_docker_config(fresh_registry: Callable[..., Registry],
                                                                  tmp_path: Path) -> None:
    """A docker config kept elsewhere (a dotfiles repository, a mounted secret) and linked into place: login and
    logout change the file the link names and leave the link a link, as docker does."""
    reg = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", AUTH_USER, AUTH_PASSWORD))
    config = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
    kept = tmp_path / "dotfiles" / "docker-config.json"
    kept.parent.mkdir()
    kept.write_text(json.dumps({"auths": {"other.example": {"auth": "dTpw"}}}))
    config.parent.mkdir(parents=True, exist_ok=True)
    config.symlink_to(os.path.relpath(kept, config.parent))
    saved = mp.login(reg.host, AUTH_USER, AUTH_PASSWORD, options=mp.ClientOptions(plain_http=True))
    assert config.is_symlink() and saved.auth_file == kept
    assert set(json.loads(kept.read_text())["auths"]) == {"other.example", reg.host}
    assert mp.logout(reg.host)
    assert config.is_symlink()
    assert set(json.loads(kept.read_text())["auths"]) == {"other.example"}
