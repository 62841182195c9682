"""Registry authentication: Basic, and Bearer tokens cached per scope until they expire.

oras-py keeps one token for every scope, so a push that needs `pull,push` on one repository and `pull`
on another fails on registries that scope tokens strictly. Here each scope has its own token.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from modelpack.errors import AuthenticationError, RegistryError
from modelpack.store.credentials import Credentials

_PARAM = re.compile(r'(\w+)=("([^"]*)"|[^,\s]*)')
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


class TokenCache:
    """Bearer tokens keyed by scope, thread-safe; each fetched at most once while it is valid."""

    def __init__(self, host: str, credentials: Callable[[], Credentials | None], session: requests.Session,
                 verify: bool | str, timeout: tuple[float, float]) -> None:
        self.host = host
        self._credentials = credentials
        self._session = session
        self._verify = verify
        self._timeout = timeout
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
        if not challenge.realm.startswith(("https://", "http://")):
            raise RegistryError(f"{self.host} sent an authentication challenge without a usable realm")
        creds = self._credentials()
        params: list[tuple[str, str]] = [("service", challenge.service)] if challenge.service else []
        try:
            if creds and creds.username == "<token>":
                # An identity token from `docker login` against an OAuth2 registry.
                data = {"grant_type": "refresh_token", "refresh_token": creds.password, "client_id": "modelpack",
                        "service": challenge.service, "scope": scope}
                resp = self._session.post(challenge.realm, data=data, verify=self._verify, timeout=self._timeout)
            else:
                # One `scope` parameter per resource, as the token specification has it.
                params.extend(("scope", s) for s in scope.split())
                headers = {"Authorization": f"Basic {creds.basic()}"} if creds else {}
                resp = self._session.get(challenge.realm, params=params, headers=headers, verify=self._verify,
                                         timeout=self._timeout)
        except requests.RequestException as exc:
            raise AuthenticationError(f"cannot reach the token service of {self.host}: {type(exc).__name__}") \
                from None
        if resp.status_code in (401, 403):
            who = f" for user {creds.username!r}" if creds else " (not logged in: run `modelpack login`)"
            raise AuthenticationError(f"{self.host} refused the credentials{who}")
        if resp.status_code != 200:
            raise AuthenticationError(f"token service of {self.host} answered HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise AuthenticationError(f"token service of {self.host} sent no JSON") from None
        token = body.get("token") or body.get("access_token")
        if not token:
            raise AuthenticationError(f"token service of {self.host} sent no token")
        return str(token), float(body.get("expires_in") or 60)
