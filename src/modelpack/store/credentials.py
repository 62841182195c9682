"""Registry credentials in the docker config file, shared with docker, oras, crane and skopeo.

`DOCKER_CONFIG` is honoured as docker does (oras-py's lookup ignores it). Credential helpers
(`credsStore`, `credHelpers`) are asked through oras-py's helper call.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelpack.errors import UsageError
from modelpack.files import atomic_write

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str  # or an identity token when username is "<token>"

    def __repr__(self) -> str:  # never show the secret, even in a debugger or a traceback
        return f"Credentials(username={self.username!r}, password=***)"

    def basic(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


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
    return data if isinstance(data, dict) else {}


def _keys_for(host: str) -> tuple[str, ...]:
    if host in DOCKER_HUB_KEYS:
        return DOCKER_HUB_KEYS
    return (host, f"https://{host}", f"http://{host}")


def lookup(host: str) -> Credentials | None:
    """Credentials for `host` from the docker config, a credential helper, or None."""
    config = _read_config()
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    auths = config.get("auths") or {}
    for key in _keys_for(host):
        entry = auths.get(key)
        if isinstance(entry, dict):
            if entry.get("identitytoken"):
                return Credentials("<token>", str(entry["identitytoken"]))
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
    return Credentials(user, password)


def _from_helper(helper: str, host: str) -> Credentials | None:
    from oras.auth.base import AuthBackend

    encoded = AuthBackend()._get_auth_from_creds_store(helper, host)
    return _decode(encoded, host) if encoded else None


def store(host: str, creds: Credentials) -> Path:
    """Save credentials for `host` (base64 in `auths`, as `docker login` does without a helper)."""
    config = _read_config()
    auths = config.setdefault("auths", {})
    auths[host] = {"auth": creds.basic()}
    return _write_config(config)


def remove(host: str) -> bool:
    config = _read_config()
    auths = config.get("auths") or {}
    found = [k for k in _keys_for(host) if k in auths]
    for key in found:
        del auths[key]
    if found:
        _write_config(config)
    return bool(found)


def _write_config(config: dict[str, Any]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, (json.dumps(config, indent="\t") + "\n").encode(), mode=0o600)
    return path
