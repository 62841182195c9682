"""Registry credentials in auth files: the docker config, shared with docker, oras and crane, and the
containers auth files podman, skopeo and buildah write (read first, as containers/image reads them when
registries.conf sets no `credential-helpers`: `credential_sources.py`, where that list is followed too).

`DOCKER_CONFIG` is honoured as docker does (oras-py's lookup ignores it). Credential helpers
(`credsStore`, `credHelpers`) are run as docker runs them: `docker-credential-NAME get|store|erase`
(`credential_helper.py`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelpack import advice
from modelpack.errors import AuthenticationError, UsageError
from modelpack.files import atomic_write, read_capped
from modelpack.store import credential_helper
from modelpack.store.auth_keys import DOCKER_HUB_KEYS, entry_keys, keys_for, legacy_host
from modelpack.store.credential_helper import HelperFailed
from modelpack.store.credential_types import Credentials, SavedCredentials

MAX_AUTH_FILE_BYTES = 4 << 20  # a few KiB in practice; a huge file is a mistake
log = logging.getLogger("modelpack.credentials")

__all__ = ["DOCKER_HUB_KEYS", "Credentials", "SavedCredentials", "check_storable", "config_path", "legacy_path",
           "lookup", "refused", "remove", "store"]


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


def legacy_path() -> Path:
    """Docker's pre-2015 credential file, read last (as docker and containers/image read it)."""
    return Path(os.path.expanduser("~")) / ".dockercfg"


def read_auth_file(path: Path, kind: str = "docker config") -> dict[str, Any]:
    """A docker config or containers auth.json (the same format): {} when it does not exist.

    Raises:
        UsageError: it cannot be read, is no regular file, is over 4 MiB, is not JSON, or a field has the
            wrong type.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block every pull's read of it
            raise UsageError(f"cannot read {kind} {path}: it is not a regular file (a FIFO, device or socket); "
                             "fix or move it")
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


def lookup(host: str, repository: str | None = None) -> Credentials | None:
    """Credentials for `host` (for `repository` on it: an entry of its own or of a namespace holding it
    wins, see `auth_keys`): through registries.conf's `credential-helpers` when it sets them, else from
    the auth files (`$REGISTRY_AUTH_FILE` or `$XDG_RUNTIME_DIR/containers/auth.json`,
    `~/.config/containers/auth.json`, the docker config or its credential helper, `~/.dockercfg`); None
    when there are none.

    Raises:
        UsageError: a credential file or registries.conf that cannot be read.
    """
    from modelpack.store import credential_sources

    return credential_sources.lookup(credential_sources.in_effect(), host, repository)


def in_file(path: Path, host: str, repository: str | None = None, *, use_creds_store: bool,
            kind: str = "docker config") -> Credentials | None:
    """Credentials for `host` in one auth file: its most specific `auths` entry for `repository` (see
    `auth_keys`), else the helper its `credHelpers` names for the host (and, with `use_creds_store`, its
    `credsStore`: docker's, which containers/image ignores). A helper that fails is said in one line and
    counts as knowing none."""
    config = read_auth_file(path, kind)
    auths = config.get("auths") or {}
    for key in keys_for(host, repository):
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


def in_legacy_file(host: str) -> Credentials | None:
    """Credentials for `host` in `~/.dockercfg`: `{server: {"auth": ...}}`, servers often written as
    `https://host/v1/`; host entries only (that format has no others)."""
    path = legacy_path()
    entries = read_auth_file(path, "legacy docker config")
    for key, entry in entries.items():
        matches = legacy_host(key) == host or (host in DOCKER_HUB_KEYS and legacy_host(key) in DOCKER_HUB_KEYS)
        if matches and isinstance(entry, dict) and entry.get("auth"):
            return _decode(str(entry["auth"]), host, path)
    return None


def _decode(auth: str, host: str, path: Path) -> Credentials:
    try:
        user, _, password = base64.b64decode(auth).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path}: the entry for {host} is not valid base64 user:password") from None
    return Credentials(user, password, saved_in=str(path))


def store(host: str, creds: Credentials, repository: str | None = None) -> SavedCredentials:
    """Save credentials for `host` (for `repository` on it, under its own key, when given): where
    registries.conf's `credential-helpers` says when set, else in the auth file
    `credential_sources.login_file` names (the docker config through the credential helper it names for
    the host, as `docker login` does, or base64 in `auths`).

    Returns:
        Where they were saved.

    Raises:
        UsageError: a helper named is missing or refuses; nothing is written in plain text then.
    """
    from modelpack.store import credential_sources

    return credential_sources.store(credential_sources.in_effect(), host, creds, repository)


def store_in_file(path: Path, host: str, creds: Credentials, *, use_creds_store: bool,
                  kind: str = "docker config", repository: str | None = None) -> SavedCredentials:
    """Save `creds` for `host` in one auth file (a docker config or a containers auth.json, mode 0600).

    Args:
        path: the file; made, with its folder, if missing.
        host: the registry host, the entry's key.
        creds: what to save.
        use_creds_store: follow the file's `credsStore` too (docker's; containers/image ignores it).
        kind: what the file is, as errors name it.
        repository: a repository (or namespace) on `host`: saved under its own key (`host/team/model`).

    Returns:
        Where they were saved: the file, and the helper its `credHelpers` names for `host` when one keeps
        the secret (the file then lists the host with an empty entry, as docker does).

    Raises:
        UsageError: the file cannot be read or is malformed (it is not overwritten then), or it names a
            helper for `host` while `repository` is given (helpers keep hosts only).
        HelperFailed: the helper refused them.
    """
    path = _link_target(path)
    with _writers_turn(path, create=True):
        config = read_auth_file(path, kind)
        helper = _helper_for(config, host, use_creds_store)
        if repository:
            if helper:
                raise _keeps_hosts(path, host, kind, helper)
            config.setdefault("auths", {})[entry_keys(host, repository)[0]] = {"auth": creds.basic()}
        elif helper:
            credential_helper.run(helper, "store", json.dumps({"ServerURL": host, "Username": creds.username,
                                                               "Secret": creds.password}))
            config.setdefault("auths", {})[host] = {}  # as docker: listed here, the secret kept by the helper
        else:
            config.setdefault("auths", {})[host] = {"auth": creds.basic()}
        written = _write_config(config, path)
    return SavedCredentials(written, credential_helper.program(helper) if helper else None)


def _link_target(path: Path) -> Path:
    """The file a symlinked auth file points to, which a write must replace, as docker's does: replacing
    the link itself would cut the user's link (a config kept in a dotfiles repository, a mounted secret)
    and leave the file it named stale. A dangling link's target is made; a loop is left to the read to
    report."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


@contextlib.contextmanager
def _writers_turn(path: Path, *, create: bool) -> Iterator[None]:
    """Writers of an auth file take turns (two CI jobs logging in at once each read the file, added their
    entry and wrote it back: one entry was lost): an flock on its folder, which the rename writing the file
    does not replace and which leaves no lock file behind. `create`: make the folder (mode 0700) if missing;
    else a missing folder holds no file to change, and nothing is locked."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (the lock goes with it)


def check_storable(host: str, repository: str | None = None) -> None:
    """Before asking the registry: refuse a configuration `store` could not write for `host` (for
    `repository` on it, when given).

    Raises:
        UsageError: a malformed config, one naming a credential helper that is not installed, or, for a
            repository, one where a credential helper would have to keep them (helpers keep hosts only).
    """
    from modelpack.store import credential_sources

    helpers = credential_sources.configured()
    if helpers or repository:
        credential_sources.check_storable(credential_sources.in_effect(), host, repository)
        return
    if credential_sources.login_file(host, listed=False) != config_path():
        return  # a containers auth file: no helper of the docker config's is run
    helper = _helper_for(read_auth_file(config_path()), host, True)
    if helper and credential_helper.missing(helper):
        raise UsageError(f"the docker config {config_path()} names the credential helper {helper!r}, but "
                         f"{credential_helper.program(helper)} is not on PATH: install it, or remove it from the "
                         "config")


def check_no_helper(path: Path, host: str, kind: str, *, use_creds_store: bool) -> None:
    """Refuse to save a repository's credentials in an auth file that names a credential helper for its
    host (as containers/image refuses): helpers keep hosts only, and base64 beside one would put in a
    file what the user chose to keep in the helper.

    Raises:
        UsageError: the file names one (or cannot be read).
    """
    helper = _helper_for(read_auth_file(path, kind), host, use_creds_store)
    if helper:
        raise _keeps_hosts(path, host, kind, helper)


def _keeps_hosts(path: Path, host: str, kind: str, helper: str) -> UsageError:
    return UsageError(f"{kind} {path} names the credential helper {helper!r} for {host}, which keeps a host's "
                      f"credentials, not a repository's: log in to {host} instead, or set REGISTRY_AUTH_FILE "
                      "to a file of its own")


def remove(host: str, repository: str | None = None) -> bool:
    """Forget `host`'s credentials (`repository`'s own entry on it, if given) wherever `store` would have
    saved them. Returns whether there were any."""
    from modelpack.store import credential_sources

    return credential_sources.remove(credential_sources.in_effect(), host, repository)


def warn_if_still_held(path: Path, host: str, repository: str | None = None) -> None:
    """Say in one line that a file `logout` leaves alone still holds the entry (lookups would still find
    it there)."""
    if holds(path, host, repository):
        named = f"{host}/{repository}" if repository else host
        log.warning("credentials for %s are also in %s, which logout leaves alone: remove them there", named, path)


def remove_from_docker_config(host: str, repository: str | None = None) -> bool:
    """`remove` from the docker config (and through its helper for `host`, if it names one)."""
    return remove_from_file(config_path(), host, "docker config", use_creds_store=True, repository=repository)


def remove_from_file(path: Path, host: str, kind: str, *, use_creds_store: bool = False,
                     repository: str | None = None) -> bool:
    """Remove one entry from one auth file: `repository`'s own on `host` when given, else the host's (and
    erase the host's from the helper its `credHelpers` names; helpers keep hosts only); whether there was
    one. A host's entry goes alone: those of its repositories stay, as with podman."""
    path = _link_target(path)
    with _writers_turn(path, create=False):
        config = read_auth_file(path, kind)
        helper = None if repository else _helper_for(config, host, use_creds_store)
        auths = config.get("auths") or {}
        found = [k for k in entry_keys(host, repository) if k in auths]
        for key in found:
            del auths[key]
        if helper:
            credential_helper.run(helper, "erase", host)
        if found:
            _write_config(config, path)
    return bool(found) or bool(helper)


def holds(path: Path, host: str, repository: str | None = None) -> bool:
    """Whether the auth file (or `~/.dockercfg`) at `path` has the entry (`repository`'s own on `host`
    when given, else the host's)."""
    if path == legacy_path():  # that format has host entries only
        entries = read_auth_file(path, "legacy docker config")
        return not repository and any(legacy_host(key) == host for key in entries)
    auths = read_auth_file(path, "auth file").get("auths") or {}
    return any(key in auths for key in entry_keys(host, repository))


def _helper_for(config: dict[str, Any], host: str, use_creds_store: bool) -> str | None:
    helper = (config.get("credHelpers") or {}).get(host) or (config.get("credsStore") if use_creds_store else None)
    return str(helper) if helper else None


def _write_config(config: dict[str, Any], path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, (json.dumps(config, indent="\t") + "\n").encode(), mode=0o600)
    return path
