"""Registry credentials in the docker config file, shared with docker, oras, crane and skopeo.

`DOCKER_CONFIG` is honoured as docker does (oras-py's lookup ignores it). Credential helpers
(`credsStore`, `credHelpers`) are run as docker runs them: `docker-credential-NAME get|store|erase`
(`credential_helper.py`). When registries.conf sets `credential-helpers`, that list decides where
credentials are looked up and saved instead (`credential_sources.py`).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

from modelpack import advice
from modelpack.errors import AuthenticationError, UsageError
from modelpack.files import atomic_write, read_capped
from modelpack.store import credential_helper
from modelpack.store.credential_helper import HelperFailed
from modelpack.store.credential_types import Credentials

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
MAX_AUTH_FILE_BYTES = 4 << 20  # a few KiB in practice; a huge file is a mistake
log = logging.getLogger("modelpack.credentials")

__all__ = ["Credentials", "check_storable", "config_path", "lookup", "refused", "remove", "store"]


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


def read_auth_file(path: Path, kind: str = "docker config") -> dict[str, Any]:
    """A docker config or containers auth.json (the same format): {} when it does not exist.

    Raises:
        UsageError: it cannot be read, is over 4 MiB, is not JSON, or a field has the wrong type.
    """
    try:
        raw = read_capped(path, MAX_AUTH_FILE_BYTES)
        if raw is None:
            raise UsageError(f"{kind} {path} is over {MAX_AUTH_FILE_BYTES >> 20} MiB; fix or move it")
        data = json.loads(raw)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {kind} {path}: {exc}") from None
    return _checked(data, path, kind)


def _checked(data: Any, path: Path, kind: str) -> dict[str, Any]:
    """The config, if its fields have the types docker writes; else one line naming the bad field
    (a config we cannot read must not be overwritten, nor read as if it were empty)."""
    if not isinstance(data, dict):
        raise UsageError(f"{kind} {path}: expected a JSON object at the top level; fix or move it")
    for key, type_, name in (("auths", dict, "an object"), ("credHelpers", dict, "an object"),
                             ("credsStore", str, "a string")):
        if data.get(key) is not None and not isinstance(data[key], type_):
            raise UsageError(f"{kind} {path}: {key!r} must be {name}; fix or remove it")
    return data


def _keys_for(host: str) -> tuple[str, ...]:
    if host in DOCKER_HUB_KEYS:
        return DOCKER_HUB_KEYS
    return (host, f"https://{host}", f"http://{host}")


def lookup(host: str) -> Credentials | None:
    """Credentials for `host`: through registries.conf's `credential-helpers` when it sets them, else from
    the docker config or its credential helper; None when there are none.

    Raises:
        UsageError: a credential file or registries.conf that cannot be read.
    """
    from modelpack.store import credential_sources

    helpers = credential_sources.configured()
    if helpers:
        return credential_sources.lookup(helpers, host)
    return in_file(config_path(), host, use_creds_store=True)


def in_file(path: Path, host: str, *, use_creds_store: bool, kind: str = "docker config") -> Credentials | None:
    """Credentials for `host` in one auth file: its `auths` entry, else the helper its `credHelpers` names
    for the host (and, with `use_creds_store`, its `credsStore`: docker's, which containers/image ignores).
    A helper that fails is said in one line and counts as knowing none."""
    config = read_auth_file(path, kind)
    auths = config.get("auths") or {}
    for key in _keys_for(host):
        entry = auths.get(key)
        if isinstance(entry, dict):
            if entry.get("identitytoken"):
                return Credentials("<token>", str(entry["identitytoken"]), saved_in=str(path))
            if entry.get("auth"):
                return _decode(str(entry["auth"]), host, path)
    helper = _helper_for(config, host, use_creds_store)
    if not helper:
        return None
    try:
        return credential_helper.get(helper, host)
    except HelperFailed as exc:
        log.warning("%s (named in %s); looked up no credentials for %s there", exc, path, host)
        return None


def _decode(auth: str, host: str, path: Path) -> Credentials:
    try:
        user, _, password = base64.b64decode(auth).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path}: the entry for {host} is not valid base64 user:password") from None
    return Credentials(user, password, saved_in=str(path))


def store(host: str, creds: Credentials) -> Path | str:
    """Save credentials for `host`: where registries.conf's `credential-helpers` says when set, else through
    the credential helper the docker config names for it (as `docker login` does), else base64 in `auths`.

    Returns:
        The file written, or the helper program that keeps them.

    Raises:
        UsageError: a helper named is missing or refuses; nothing is written in plain text then.
    """
    from modelpack.store import credential_sources

    helpers = credential_sources.configured()
    if helpers:
        return credential_sources.store(helpers, host, creds)
    return store_in_docker_config(host, creds)


def store_in_docker_config(host: str, creds: Credentials) -> Path:
    """`store` into the docker config (through its helper for `host`, if it names one)."""
    config = read_auth_file(config_path())
    helper = _helper_for(config, host, True)
    if helper:
        credential_helper.run(helper, "store", json.dumps({"ServerURL": host, "Username": creds.username,
                                                           "Secret": creds.password}))
        config.setdefault("auths", {})[host] = {}  # as docker: listed here, the secret kept by the helper
    else:
        config.setdefault("auths", {})[host] = {"auth": creds.basic()}
    return _write_config(config)


def check_storable(host: str) -> None:
    """Before asking the registry: refuse a configuration `store` could not write for `host`.

    Raises:
        UsageError: a malformed config, or one naming a credential helper that is not installed.
    """
    from modelpack.store import credential_sources

    helpers = credential_sources.configured()
    if helpers:
        credential_sources.check_storable(helpers, host)
        return
    helper = _helper_for(read_auth_file(config_path()), host, True)
    if helper and credential_helper.missing(helper):
        raise UsageError(f"the docker config {config_path()} names the credential helper {helper!r}, but "
                         f"{credential_helper.program(helper)} is not on PATH: install it, or remove it from the "
                         "config")


def remove(host: str) -> bool:
    """Forget `host`'s credentials wherever `store` would have saved them. Returns whether there were any."""
    from modelpack.store import credential_sources

    helpers = credential_sources.configured()
    if helpers:
        return credential_sources.remove(helpers, host)
    return remove_from_docker_config(host)


def remove_from_docker_config(host: str) -> bool:
    config = read_auth_file(config_path())
    helper = _helper_for(config, host, True)
    auths = config.get("auths") or {}
    found = [k for k in _keys_for(host) if k in auths]
    for key in found:
        del auths[key]
    if helper:
        credential_helper.run(helper, "erase", host)
    if found:
        _write_config(config)
    return bool(found) or bool(helper)


def _helper_for(config: dict[str, Any], host: str, use_creds_store: bool) -> str | None:
    helper = (config.get("credHelpers") or {}).get(host) or (config.get("credsStore") if use_creds_store else None)
    return str(helper) if helper else None


def _write_config(config: dict[str, Any]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, (json.dumps(config, indent="\t") + "\n").encode(), mode=0o600)
    return path
