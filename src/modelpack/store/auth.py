"""Registry authentication: Basic, and Bearer tokens cached per scope until they expire.

oras-py keeps one token for every scope, so a push that needs `pull,push` on one repository and `pull`
on another fails on registries that scope tokens strictly. Here each scope has its own token.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from modelpack import advice
from modelpack.errors import AuthenticationError, RegistryError
from modelpack.oci.jsontext import parse_or_none
from modelpack.store.credentials import Credentials, refused

_PARAM = re.compile(r'(\w+)=("([^"]*)"|[^,\s]*)')
# What a token may be to go into an Authorization header: visible ASCII, no space (RFC 6750's b64token is
# narrower; real services send JWTs or base64). A CR or LF would end the header and let the token service
# write headers of its own into every request to the registry; the size bounds every request it goes into.
_TOKEN = re.compile(r"[\x21-\x7e]{1,65536}")
# Refresh a little before expiry so a token does not run out mid-request.
_EARLY = 10.0


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    realm: str = ""
    service: str = ""
    scope: str = ""


def parse_challenge(header: str) -> Challenge | None:
    """Parse a WWW-Authenticate header (`Bearer realm="...",service="...",scope="..."`)."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {m.group(1).lower(): (m.group(3) if m.group(3) is not None else m.group(2))
              for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params.get("realm", ""), params.get("service", ""), params.get("scope", ""))


def merge_scopes(*scopes: str) -> str:
    """`repository:a:pull repository:a:push` -> `repository:a:pull,push`; stable order."""
    actions: dict[str, list[str]] = {}
    for scope_list in scopes:
        for scope in scope_list.split():
            resource, _, acts = scope.rpartition(":")
            if not resource:
                continue
            bucket = actions.setdefault(resource, [])
            for act in acts.split(","):
                if act and act not in bucket:
                    bucket.append(act)
    return " ".join(f"{res}:{','.join(sorted(acts))}" for res, acts in actions.items())


TokenFetch = Callable[[str, str, dict[str, str], list[tuple[str, str]], dict[str, str] | None], tuple[int, bytes]]


class TokenCache:
    """Bearer tokens of one origin, keyed by scope, thread-safe; each fetched at most once while it is valid.

    `credentials(scope)` gives those a token for `scope` is asked with.
    `fetch(method, url, headers, params, form)` sends the token request (time- and size-bounded by the
    client) and returns the status and body. Credentials go to the realm only over HTTPS, or when the
    registry itself was asked for plain HTTP: a `http://` realm behind an `https://` registry gets none."""

    def __init__(self, host: str, credentials: Callable[[str], Credentials | None], fetch: TokenFetch,
                 plain_http_ok: bool) -> None:
        self.host = host
        self._credentials = credentials
        self._fetch_raw = fetch
        self._plain_http_ok = plain_http_ok
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, challenge: Challenge, scope: str) -> str:
        with self._lock:
            cached = self._tokens.get(scope)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            token, lifetime = self._fetch(challenge, scope)
            self._tokens[scope] = (token, time.monotonic() + max(lifetime - _EARLY, 1.0))
            return token

    def forget(self, scope: str) -> None:
        with self._lock:
            self._tokens.pop(scope, None)

    def _fetch(self, challenge: Challenge, scope: str) -> tuple[str, float]:
        if not challenge.realm.startswith(("https://", "http://")) or not _parses(challenge.realm):
            raise RegistryError(f"{self.host} sent an authentication challenge without a usable realm")
        creds = self._credentials(scope) if challenge.realm.startswith("https://") or self._plain_http_ok else None
        params: list[tuple[str, str]] = [("service", challenge.service)] if challenge.service else []
        if creds and creds.username == "<token>":
            # An identity token from `docker login` against an OAuth2 registry.
            form = {"grant_type": "refresh_token", "refresh_token": creds.password, "client_id": "modelpack",
                    "service": challenge.service, "scope": scope}
            status, data = self._fetch_raw("POST", challenge.realm, {}, [], form)
        else:
            # One `scope` parameter per resource, as the token specification has it.
            params.extend(("scope", s) for s in scope.split())
            headers = {"Authorization": f"Basic {creds.basic()}"} if creds else {}
            status, data = self._fetch_raw("GET", challenge.realm, headers, params, None)
        if status in (401, 403):
            if creds:
                raise refused(self.host, creds)
            raise AuthenticationError(f"{self.host} refused anonymous access (not logged in)",
                                      advice=advice.login(self.host))
        if status != 200:
            raise AuthenticationError(f"token service of {self.host} answered HTTP {status}")
        body = parse_or_none(data)
        if body is None:
            raise AuthenticationError(f"token service of {self.host} sent no JSON")
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token or not isinstance(token, str):
            raise AuthenticationError(f"token service of {self.host} sent no token")
        if not _TOKEN.fullmatch(token):
            raise AuthenticationError(f"token service of {self.host} sent a token that cannot go into a request "
                                      f"({len(token)} characters; a token is up to 64 KiB of visible ASCII)")
        try:
            lifetime = float(body.get("expires_in") or 60)
        except (TypeError, ValueError):
            lifetime = 60.0
        return token, lifetime


def _parses(url: str) -> bool:
    try:
        urllib.parse.urlsplit(url)
    except ValueError:  # `http://a]b/`
        return False
    return True
