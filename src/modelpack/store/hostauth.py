"""Authentication bound to the host that asked for it.

A registry's requests can reach other hosts: a blob GET redirected to object storage, a `Link` page or
an upload `Location` elsewhere. Each origin (scheme, host and port) keeps its own challenge and bearer
tokens, and credentials are looked up by the host of the request being sent, so a registry's password
never follows a URL to a host that did not ask for it. Credentials are sent over plain HTTP only to the
registry, when the user asked to talk to it in plain HTTP (a host it redirects to gets none so). An auth
file's entry for one repository (or namespace) of a host is used for requests about that repository only:
Basic auth by the request's path, a token by the repositories its scope names (when those name different
credentials, the host's own are used).
"""

from __future__ import annotations

import functools
import threading
import urllib.parse

from modelpack import advice
from modelpack.errors import AuthenticationError
from modelpack.store import credentials as creds_store
from modelpack.store.auth import Challenge, TokenCache, TokenFetch, parse_challenge
from modelpack.store.auth_keys import repositories_of_scope, repository_of_path
from modelpack.store.credentials import Credentials


def origin(url: str) -> str:
    # Scheme and host lie before the third "/" (urlsplit ends the host there or sooner), and a client's
    # requests share a handful of those heads: parse each head once, not every blob's URL.
    return _origin_of_head("/".join(url.split("/", 3)[:3]))


@functools.lru_cache(maxsize=64)
def _origin_of_head(head: str) -> str:
    parts = urllib.parse.urlsplit(head)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc.rsplit("@", 1)[-1]


class HostAuth:
    """Challenges, bearer tokens and credentials of every origin one client's requests reach."""

    def __init__(self, registry_host: str, given: Credentials | None, plain_http: bool, fetch: TokenFetch) -> None:
        self.registry_host = registry_host
        self._given = given  # credentials passed in (login, API): for the registry host only
        self._plain_http = plain_http
        self._fetch = fetch
        self._creds: dict[tuple[str, str | None], Credentials | None] = {}
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[str, TokenCache] = {}
        self._lock = threading.Lock()

    def credentials(self, host: str, repository: str | None = None) -> Credentials | None:
        """The user's credentials for `host` (for `repository` on it, where an auth file has an entry of
        its own): given ones for the registry host, else as `credentials.lookup` finds them."""
        key = (host, repository)
        with self._lock:
            if key not in self._creds:
                self._creds[key] = self._given if self._given and host == self.registry_host \
                    else creds_store.lookup(host, repository)
            return self._creds[key]

    def _for_scope(self, host: str, scope: str) -> Credentials | None:
        """The credentials a token for `scope` is asked with: those of the repository it names, or of the
        host when it names none, or several that would get different ones."""
        found = {self.credentials(host, name) for name in repositories_of_scope(scope)}
        return found.pop() if len(found) == 1 else self.credentials(host)

    def _for_url(self, url: str) -> Credentials | None:
        return self.credentials(host_of(url), repository_of_path(urllib.parse.urlsplit(url).path))

    def may_authenticate(self, method: str, url: str) -> bool:
        """Whether a request may carry credentials at all: the registry's own, and reads elsewhere (a blob
        redirected to storage). A write (an upload's PATCH/PUT, the DELETE cancelling it) that the registry
        sends to another host goes without: that host's credentials would be used for a request the
        registry chose (a Location naming a manifest on a registry the user is logged in to)."""
        return method in ("GET", "HEAD") or host_of(url) == self.registry_host

    @property
    def asked(self) -> bool:
        """Whether any host has asked for credentials so far (a 401 with a challenge)."""
        return bool(self._challenges)

    def header(self, url: str, scope: str) -> str | None:
        """The Authorization header for a request to `url`, from what its origin asked for (if anything)."""
        if not self.asked:  # no host has asked for credentials (yet): nothing to look up
            return None
        challenge = self._challenges.get(origin(url))
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            creds = self._for_url(url) if self._may_send(url) else None
            return f"Basic {creds.basic()}" if creds else None
        if challenge.scheme == "bearer":
            return f"Bearer {self._cache(url).get(challenge, scope)}"
        return None

    def learn(self, url: str, www_authenticate: str, scope: str, had_auth: bool) -> None:
        """Remember the challenge of a 401 from `url`; refuse at once when credentials cannot help.

        Raises:
            AuthenticationError: an unsupported scheme, Basic auth without credentials for this host, or
                credentials this host already refused.
        """
        host = host_of(url)
        challenge = parse_challenge(www_authenticate)
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            raise AuthenticationError(f"{host} requires authentication of a kind modelpack does not support")
        if challenge.scheme == "basic":
            creds = self._for_url(url) if self._may_send(url) else None
            if creds is None:
                if not self._may_send(url):
                    raise AuthenticationError(f"{host} asks for a password over plain HTTP; refused")
                raise AuthenticationError(f"{host} requires authentication", advice=advice.login(host))
            if had_auth:
                raise creds_store.refused(host, creds)
        elif had_auth:
            self._cache(url).forget(scope)  # expired or revoked: the next try fetches a fresh one
        self._challenges[origin(url)] = Challenge(challenge.scheme, challenge.realm, challenge.service)

    def _may_send(self, url: str) -> bool:
        return url.lower().startswith("https://") or self._plain_for(host_of(url))

    def _plain_for(self, host: str) -> bool:
        """Whether `host` may get credentials over plain HTTP: the registry's alone, when the user asked to
        talk to it so (not a host it redirects to, whose own password would then cross in the clear)."""
        return self._plain_http and host == self.registry_host

    def _cache(self, url: str) -> TokenCache:
        key = origin(url)
        with self._lock:
            cache = self._tokens.get(key)
            if cache is None:
                host = host_of(url)
                cache = TokenCache(host, lambda scope: self._for_scope(host, scope), self._fetch,
                                   plain_http_ok=self._plain_for(host))
                self._tokens[key] = cache
            return cache
