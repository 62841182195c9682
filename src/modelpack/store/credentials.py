"""Registry credentials in the docker config file, shared with docker, oras, crane and skopeo.

`DOCKER_CONFIG` is honoured as docker does (oras-py's lookup ignores it). Credential helpers
(`credsStore`, `credHelpers`) are run as docker runs them: `docker-credential-NAME get|store|erase`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack import advice
from modelpack.errors import AuthenticationError, UsageError
from modelpack.files import atomic_write

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str  # or an identity token when username is "<token>"
    saved_in: str | None = field(default=None, compare=False)  # where lookup() found them (for the fix)

    def __repr__(self) -> str:  # never show the secret, even in a debugger or a traceback
        return f"Credentials(username={self.username!r}, password=***)"

    def basic(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def refused(host: str, creds: Credentials) -> AuthenticationError:
    """The error saying `host` refused `creds`; for saved ones, where they are and how to replace them
    (a password changed since `login` must not read like a typo just made)."""
    line = f"{host} refused the credentials for user {creds.username!r}"
    if creds.saved_in:
        return AuthenticationError(f"{line} saved in {creds.saved_in}", advice=advice.login(host, again=True))
    return AuthenticationError(line, advice=advice.compose(
        "check the user name and the password (or the access token, where the registry issues those)"))


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(base) / "config.json"


def _read_config() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read docker config {path}: {exc}") from None
    return _checked(data, path)


def _checked(data: Any, path: Path) -> dict[str, Any]:
    """The config, if its fields have the types docker writes; else one line naming the bad field
    (a config we cannot read must not be overwritten, nor read as if it were empty)."""
    if not isinstance(data, dict):
        raise UsageError(f"docker config {path}: expected a JSON object at the top level; fix or move it")
    for key, kind, name in (("auths", dict, "an object"), ("credHelpers", dict, "an object"),
                            ("credsStore", str, "a string")):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise UsageError(f"docker config {path}: {key!r} must be {name}; fix or remove it")
    return data


def _keys_for(host: str) -> tuple[str, ...]:
    if host in DOCKER_HUB_KEYS:
        return DOCKER_HUB_KEYS
    return (host, f"https://{host}", f"http://{host}")


def lookup(host: str) -> Credentials | None:
    """Credentials for `host` from the docker config, a credential helper, or None."""
    config = _read_config()
    helper = _helper_for(config, host)
    auths = config.get("auths") or {}
    for key in _keys_for(host):
        entry = auths.get(key)
        if isinstance(entry, dict):
            if entry.get("identitytoken"):
                return Credentials("<token>", str(entry["identitytoken"]), saved_in=str(config_path()))
            if entry.get("auth"):
                return _decode(str(entry["auth"]), host)
    if helper:
        return _from_helper(str(helper), host)
    return None


def _decode(auth: str, host: str) -> Credentials:
    try:
        user, _, password = base64.b64decode(auth).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"docker config entry for {host} is not valid base64 user:password") from None
    return Credentials(user, password, saved_in=str(config_path()))


def _from_helper(helper: str, host: str) -> Credentials | None:
    """Credentials from `docker-credential-HELPER get`; None when it is not installed or knows none."""
    if shutil.which(f"docker-credential-{helper}") is None:
        return None
    try:
        answer = json.loads(_run_helper(helper, "get", host))
        return Credentials(str(answer["Username"]), str(answer["Secret"]), saved_in=f"docker-credential-{helper}")
    except UsageError:
        return None  # "credentials not found" is a failure exit, as for docker
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"credential helper docker-credential-{helper} answered without Username and "
                         "Secret") from None


def store(host: str, creds: Credentials) -> Path:
    """Save credentials for `host`: through the credential helper the config names for it (as
    `docker login` does), else base64 in `auths`.

    Raises:
        UsageError: the config names a helper that is missing or refuses; nothing is written in
            plain text then.
    """
    config = _read_config()
    helper = _helper_for(config, host)
    if helper:
        _run_helper(helper, "store", json.dumps({"ServerURL": host, "Username": creds.username,
                                                 "Secret": creds.password}))
        config.setdefault("auths", {})[host] = {}  # as docker: listed here, the secret kept by the helper
    else:
        config.setdefault("auths", {})[host] = {"auth": creds.basic()}
    return _write_config(config)


def check_storable(host: str) -> None:
    """Before asking the registry: refuse a config that `store` could not write for `host`.

    Raises:
        UsageError: a malformed config, or one naming a credential helper that is not installed.
    """
    helper = _helper_for(_read_config(), host)
    if helper and shutil.which(f"docker-credential-{helper}") is None:
        _run_helper(helper, "store", "")  # raises, naming the helper


def remove(host: str) -> bool:
    config = _read_config()
    helper = _helper_for(config, host)
    auths = config.get("auths") or {}
    found = [k for k in _keys_for(host) if k in auths]
    for key in found:
        del auths[key]
    if helper:
        _run_helper(helper, "erase", host)
    if found:
        _write_config(config)
    return bool(found) or bool(helper)


def _helper_for(config: dict[str, Any], host: str) -> str | None:
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    return str(helper) if helper else None


def _run_helper(helper: str, action: str, data: str) -> str:
    """Run `docker-credential-HELPER ACTION` with `data` on stdin; its output, or one line naming it
    if that fails."""
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run([program, action], input=data, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise UsageError(f"the docker config {config_path()} names the credential helper {helper!r}, but "
                         f"{program} is not on PATH: install it, or remove it from the config") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"credential helper {program} {action} failed: {exc}") from None
    if done.returncode != 0:
        said = (done.stdout.strip() or done.stderr.strip()).splitlines()[:1]
        raise UsageError(f"credential helper {program} {action} failed" + (f": {said[0]}" if said else ""))
    return done.stdout


def _write_config(config: dict[str, Any]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, (json.dumps(config, indent="\t") + "\n").encode(), mode=0o600)
    return path
