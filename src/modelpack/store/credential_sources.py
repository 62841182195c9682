"""registries.conf's `credential-helpers`: where credentials are looked up and saved, in order, as
containers/image does (pkg/docker/config; containers-registries.conf(5), containers-auth.json(5)). When
registries.conf sets none, the list is `containers-auth.json` alone, as containers/image's default.

Each name is tried in turn, and the first that knows credentials for the host gives them:
`containers-auth.json` stands for the auth files, any other NAME for the `docker-credential-NAME`
program. The auth files, in order: `$REGISTRY_AUTH_FILE` (as podman and skopeo take it) or else
`$XDG_RUNTIME_DIR/containers/auth.json`, then `$XDG_CONFIG_HOME/containers/auth.json` (default
`~/.config`), then the docker config (with its `credsStore`, which containers/image alone ignores).
then `~/.dockercfg` (docker's pre-2015 format). The first file with an entry for the request's host gives
it: its most specific one, a repository's own (`host/team/model`) or a namespace's before the host's
(`auth_keys`). A file's `credHelpers` entry for the host is followed. A helper that is missing, hangs,
fails or answers garbage is said in one line and the next one is tried. Helpers are asked for the host a
request goes to, and their answer is kept for that host only (hostauth.py).

`login` writes the file `login_file` names: `$REGISTRY_AUTH_FILE` when set, else the primary auth file,
as `podman login` does, where registries.conf lists `containers-auth.json` or the primary file holds the host
already (an entry there, read first, would outvote one written anywhere else); else the docker config, as
before (docker, oras and crane read it; podman reads it after its own files). A repository's login
(`HOST/NS/REPO`) writes the primary auth file even then, as `podman login` does: docker, oras and crane
look credentials up by host alone, so in the docker config such a key would be read by no tool but
those reading the primary file first anyway; and no credential helper takes it (helpers keep hosts
only, as containers/image says when asked to). `logout` removes the entry
(`HOST`'s, or `HOST/NS/REPO`'s alone) from the primary auth file and the docker config (where modelpack's
logins and docker's are), and names any other file that still holds it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from modelpack.errors import UsageError
from modelpack.store import credential_helper, credentials
from modelpack.store.credential_helper import HelperFailed
from modelpack.store.credential_types import Credentials, SavedCredentials
from modelpack.store.registries_parse import AUTH_FILES

AUTH_FILE_ENV = "REGISTRY_AUTH_FILE"
log = logging.getLogger("modelpack.credentials")


def configured() -> tuple[str, ...]:
    """The `credential-helpers` registries.conf sets; () when it sets none."""
    from modelpack.store import registries_files

    return registries_files.load().credential_helpers


def in_effect() -> tuple[str, ...]:
    """The list followed: registries.conf's, else `containers-auth.json` alone (containers/image's default)."""
    return configured() or (AUTH_FILES,)


def auth_files() -> list[Path]:
    """The auth files `containers-auth.json` stands for, in the order they are read."""
    files: list[Path] = []
    chosen = os.environ.get(AUTH_FILE_ENV, "").strip()
    if chosen:
        files.append(Path(chosen))
    else:
        runtime = os.environ.get("XDG_RUNTIME_DIR", "").strip() or f"/run/containers/{os.getuid()}"
        files.append(Path(runtime) / "containers" / "auth.json")
    config_home = os.environ.get("XDG_CONFIG_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".config")
    files.append(Path(config_home) / "containers" / "auth.json")
    files.append(credentials.config_path())
    return files


def lookup(helpers: tuple[str, ...], host: str, repository: str | None = None) -> Credentials | None:
    """The credentials of the first of `helpers` that knows some for `host` (`repository` on it: see
    `auth_keys`; helper programs know hosts only); None when none does."""
    for name in helpers:
        if name == AUTH_FILES:
            found = _in_auth_files(host, repository)
        else:
            try:
                found = credential_helper.get(name, _server(host))
            except HelperFailed as exc:
                log.warning("%s; trying the next of registries.conf's credential-helpers for %s", exc, host)
                continue
        if found is not None:
            return found
    return None


def _in_auth_files(host: str, repository: str | None) -> Credentials | None:
    docker = credentials.config_path()
    for path in auth_files():
        is_docker = path == docker
        found = credentials.in_file(path, host, repository, use_creds_store=is_docker,
                                    kind="docker config" if is_docker else "auth file")
        if found is not None:
            return found
    return credentials.in_legacy_file(host)


def _server(host: str) -> str:
    """What a helper is asked for: the host, Docker Hub's under the name containers/image uses."""
    return "docker.io" if host in credentials.DOCKER_HUB_KEYS else host


def login_file(host: str, *, listed: bool, repository: str | None = None) -> Path:
    """The auth file `login` writes for `host` (for `repository` on it, when given): `$REGISTRY_AUTH_FILE`
    when set (podman's and skopeo's login write it); else the primary auth file
    (`$XDG_RUNTIME_DIR/containers/auth.json`, where podman, skopeo and buildah log in) for a repository,
    where registries.conf lists `containers-auth.json` (`listed`) or where that file holds the host
    already (read first, its entry would outvote any other); else the docker config."""
    primary = auth_files()[0]
    if repository or listed or os.environ.get(AUTH_FILE_ENV, "").strip() or credentials.holds(primary, host):
        return primary
    return credentials.config_path()


def store(helpers: tuple[str, ...], host: str, creds: Credentials,
          repository: str | None = None) -> SavedCredentials:
    """Save `creds` (for `repository` on `host`, when given) with the first of `helpers` that takes them
    (`containers-auth.json`: in `login_file`; helper programs keep hosts only).

    Raises:
        UsageError: none of them took them, each one's failure named.
    """
    failures: list[str] = []
    for name in helpers:
        if name == AUTH_FILES:
            path = login_file(host, listed=bool(configured()), repository=repository)
            return credentials.store_in_file(path, host, creds, use_creds_store=_is_docker(path),
                                             kind=_kind(path), repository=repository)
        if repository:
            failures.append(f"{credential_helper.program(name)} keeps a host's credentials, not a repository's")
            continue
        try:
            credential_helper.run(name, "store", _store_request(host, creds))
            return SavedCredentials(helper=credential_helper.program(name))
        except HelperFailed as exc:
            failures.append(str(exc))
    raise UsageError(f"no credential helper of registries.conf's credential-helpers took the credentials: "
                     f"{'; '.join(failures)}")


def _is_docker(path: Path) -> bool:
    """Whether `path` is the docker config (`$REGISTRY_AUTH_FILE` may name it): its `credsStore` is followed."""
    return path == credentials.config_path()


def _kind(path: Path) -> str:
    return "docker config" if _is_docker(path) else "auth file"


def _store_request(host: str, creds: Credentials) -> str:
    return json.dumps({"ServerURL": _server(host), "Username": creds.username, "Secret": creds.password})


def check_storable(helpers: tuple[str, ...], host: str, repository: str | None = None) -> None:
    """Refuse, before asking the registry, a list none of whose helpers could save credentials (for
    `repository` on `host`: only `containers-auth.json` can, in a file naming no helper for the host).

    Raises:
        UsageError: every helper named is missing from PATH, or none can keep a repository's.
    """
    if repository:
        if AUTH_FILES not in helpers:
            raise UsageError(f"registries.conf's credential-helpers name only helper programs, which keep a host's "
                             f"credentials, not a repository's: log in to {host} instead, or add {AUTH_FILES!r} "
                             "to the list")
        path = login_file(host, listed=True, repository=repository)
        credentials.check_no_helper(path, host, _kind(path), use_creds_store=_is_docker(path))
        return
    if AUTH_FILES in helpers or not all(credential_helper.missing(name) for name in helpers):
        return
    names = ", ".join(credential_helper.program(name) for name in helpers)
    raise UsageError(f"registries.conf's credential-helpers name only helpers that are not on PATH ({names}): "
                     f"install one, or add {AUTH_FILES!r} to the list")


def remove(helpers: tuple[str, ...], host: str, repository: str | None = None) -> bool:
    """Erase `host`'s credentials (`repository`'s own entry on it, when given) from every one of `helpers`
    (as `podman logout`; helper programs keep hosts only, so hold no repository's). Returns whether any
    held some.

    Raises:
        UsageError: a helper failed to erase what it holds (a missing one holds nothing).
    """
    removed = False
    for name in helpers:
        if name == AUTH_FILES:
            removed = _remove_from_auth_files(host, repository) or removed
            continue
        if repository or credential_helper.missing(name):
            continue
        try:
            credential_helper.run(name, "erase", _server(host))
            removed = True
        except HelperFailed as exc:
            if credential_helper.NOT_FOUND not in str(exc):
                raise
    return removed


def _remove_from_auth_files(host: str, repository: str | None) -> bool:
    """Remove the entry from the primary auth file and the docker config (where `podman login` and `login`
    write); say which other file still holds it, as lookups would still find it there."""
    files = auth_files()
    docker = credentials.config_path()
    removed = credentials.remove_from_docker_config(host, repository)
    if files[0] != docker:
        removed = credentials.remove_from_file(files[0], host, "auth file", repository=repository) or removed
    for path in [*files[1:-1], credentials.legacy_path()]:
        if path != docker:
            credentials.warn_if_still_held(path, host, repository)
    return removed
