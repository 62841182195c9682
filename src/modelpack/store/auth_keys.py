"""Which entries of an auth file may hold a registry's credentials, as containers-auth.json(5) orders
them: for a repository, its own key first, then each enclosing namespace, then the host
(`quay.io/team/model`, `quay.io/team`, `quay.io`, then docker's `https://quay.io` forms); the most
specific one present wins. Every key starts with the host asked about, so no entry of another host, nor
of a sibling repository (`quay.io/team/model2`), is ever read for it.
"""

from __future__ import annotations

import re

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
# /v2/<name>/<endpoint>/...: the name ends before the last endpoint word followed by "/" (a name may hold
# `blobs` or `tags` as a component; a tag or digest after the word holds no "/")
REPO_PATH = re.compile(r"^/v2/(?P<name>.+)/(?:blobs|manifests|tags|referrers)/")
_SCOPE_REPOSITORY = re.compile(r"^repository(?:\([^)]*\))?:(.+):[^:]*$")


def host_keys(host: str) -> tuple[str, ...]:
    """The keys of `host`'s own entry: docker writes the host, older clients a URL."""
    if host in DOCKER_HUB_KEYS:
        return DOCKER_HUB_KEYS
    return (host, f"https://{host}", f"http://{host}")


def entry_keys(host: str, repository: str | None = None) -> tuple[str, ...]:
    """The keys of one entry: `repository`'s own on `host` (`quay.io/team/model`), else the host's."""
    if not repository:
        return host_keys(host)
    return (f"{'docker.io' if host in DOCKER_HUB_KEYS else host}/{repository}",)


def keys_for(host: str, repository: str | None = None) -> tuple[str, ...]:
    """The keys that may hold `host`'s credentials for `repository` (None: the host's alone), most
    specific first."""
    if not repository:
        return host_keys(host)
    base = "docker.io" if host in DOCKER_HUB_KEYS else host
    parts = repository.split("/")
    return (*(f"{base}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)), *host_keys(host))


def legacy_host(key: str) -> str:
    """The host a `~/.dockercfg` key names (`https://host/v1/` in docker's pre-2015 files)."""
    return key.split("://", 1)[-1].split("/", 1)[0]


def repository_of_path(path: str) -> str | None:
    """The repository a registry API path is about (`/v2/team/model/blobs/...` -> `team/model`), else None."""
    found = REPO_PATH.match(path)
    return found.group("name") if found else None


def repositories_of_scope(scope: str) -> list[str]:
    """The repositories a token scope names (`repository:team/model:pull,push ...`), in order, once each."""
    names: list[str] = []
    for item in scope.split():
        found = _SCOPE_REPOSITORY.match(item)
        if found and found.group(1) not in names:
            names.append(found.group(1))
    return names
