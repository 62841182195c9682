"""The registry HTTP client: oras-py's `Registry`, with what it lacks done here.

Every request gets a timeout, retries with exponential backoff and jitter on connection errors, 408,
429 and 5xx (honouring Retry-After), per-scope bearer tokens, and typed errors. Request bodies are
*openers* (callables returning a fresh stream), so a retried upload re-reads its file instead of
holding it in memory. Credentials never reach a log line or an error message.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import oras.container
import oras.provider
import requests
import urllib3

from modelpack.errors import (
    AuthenticationError,
    NotFoundError,
    RegistryError,
    TransportError,
)
from modelpack.store import credentials as creds_store
from modelpack.store.auth import Challenge, TokenCache, parse_challenge
from modelpack.store.credentials import Credentials
from modelpack.store.upload import FileBody, SizedReader

log = logging.getLogger("modelpack.registry")
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:blobs|manifests|tags|referrers)(?:/|$)")
Body = bytes | FileBody | None


@dataclass
class ClientOptions:
    """How to talk to a registry. The defaults are the safe ones: HTTPS with verification on."""

    plain_http: bool = False
    insecure: bool = False  # skip TLS verification
    ca_file: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 20.0
    credentials: Credentials | None = None  # overrides the docker config

    @property
    def verify(self) -> bool | str:
        if self.insecure:
            return False
        return self.ca_file or True


class RegistryClient(oras.provider.Registry):
    def __init__(self, host: str, options: ClientOptions | None = None) -> None:
        self.options = options or ClientOptions()
        super().__init__(hostname=host, insecure=self.options.plain_http, tls_verify=self.options.verify)
        self.host = host
        self.base = f"{'http' if self.options.plain_http else 'https'}://{host}"
        self._local = threading.local()
        self._challenge: Challenge | None = None
        self._creds_loaded = False
        self._creds: Credentials | None = self.options.credentials
        self.tokens = TokenCache(host, self._credentials, self.session, self.options.verify, self._timeout)
        if self.options.insecure:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def __repr__(self) -> str:
        return f"RegistryClient({self.host!r})"

    @property
    def _timeout(self) -> tuple[float, float]:
        return (self.options.connect_timeout, self.options.read_timeout)

    def _credentials(self) -> Credentials | None:
        if not self._creds_loaded and self._creds is None:
            self._creds = creds_store.lookup(self.host)
        self._creds_loaded = True
        return self._creds

    def _session(self) -> requests.Session:
        # One session (one connection pool) per thread: parallel layer transfers do not contend.
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = True
            session.headers["User-Agent"] = "modelpack"
            self._local.session = session
        return session

    # -- the one place requests are sent ----------------------------------------------------------
    def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
        scope: str | None = None,
        ok: Iterable[int] = (200, 201, 202, 204, 206),
        what: str = "",
        allow_404: bool = False,
        retries: int | None = None,
    ) -> requests.Response:
        """Send with auth, timeouts and retries; raise a typed error unless the status is in `ok`."""
        retries = self.options.retries if retries is None else retries
        if url.startswith("/"):
            url = self.base + url
        scope = self.scope_for(method, url) if scope is None else scope
        ok = set(ok)
        attempt = 0
        auth_tries = 0
        while True:
            attempt += 1
            req_headers = dict(headers or {})
            auth = self._auth_header(scope)
            if auth:
                req_headers["Authorization"] = auth
            data: Any = body.opener() if isinstance(body, FileBody) else body
            try:
                payload = SizedReader(data, body) if isinstance(body, FileBody) else data
                resp = self._session().request(method, url, headers=req_headers, data=payload, stream=stream,
                                               verify=self.options.verify, timeout=self._timeout,
                                               allow_redirects=True)
            except requests.exceptions.SSLError as exc:
                raise TransportError(_tls_message(self.host, exc, self.options.plain_http)) from None
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                text = str(exc).lower()
                # Refused connections and unknown hosts are rarely transient: fail fast rather than back off.
                hopeless = "refused" in text or "resolve" in text or "name or service" in text
                limit = min(1, retries) if hopeless else retries
                if attempt > limit:
                    raise TransportError(_connection_message(self.host, exc)) from None
                self._sleep(attempt, None, f"{method} {_redact(url)}: {type(exc).__name__}")
                continue
            finally:
                if hasattr(data, "close"):
                    data.close()
            log.debug("%s %s -> %s", method, _redact(url), resp.status_code)
            if resp.status_code == 401 and auth_tries < 2:
                auth_tries += 1
                self._handle_401(resp, scope, had_auth=bool(auth))
                resp.close()
                continue
            if resp.status_code in RETRY_STATUS and attempt <= retries:
                retry_after = resp.headers.get("Retry-After")
                resp.close()
                self._sleep(attempt, retry_after, f"{method} {_redact(url)}: HTTP {resp.status_code}")
                continue
            if resp.status_code in ok or (allow_404 and resp.status_code == 404):
                return resp
            raise self.error_for(resp, what or f"{method} {_redact(url)}")

    def scope_for(self, method: str, url: str) -> str:
        """The token scope a request needs, derived from its path: pull for reads, pull,push for
        writes, delete for deletes."""
        path = urllib.parse.urlsplit(url).path
        match = _REPO_PATH.match(path)
        if not match:
            return ""
        actions = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(method.upper(), "pull,push")
        return f"repository:{match.group('name')}:{actions}"

    def _auth_header(self, scope: str) -> str | None:
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            creds = self._credentials()
            return f"Basic {creds.basic()}" if creds else None
        if challenge.scheme == "bearer":
            return f"Bearer {self.tokens.get(challenge, scope)}"
        return None

    def _handle_401(self, resp: requests.Response, scope: str, had_auth: bool) -> None:
        """Learn the registry's auth scheme from a 401; refuse at once when credentials cannot help."""
        challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            raise AuthenticationError(f"{self.host} requires authentication of a kind modelpack does not support")
        if challenge.scheme == "basic":
            creds = self._credentials()
            if creds is None:
                raise AuthenticationError(f"{self.host} requires authentication: run `modelpack login {self.host}`")
            if had_auth:
                raise AuthenticationError(f"{self.host} refused the credentials for user {creds.username!r}")
        elif had_auth:
            self.tokens.forget(scope)  # expired or revoked: the next try fetches a fresh one
        self._challenge = Challenge(challenge.scheme, challenge.realm, challenge.service)

    def _sleep(self, attempt: int, retry_after: str | None, why: str) -> None:
        delay = min(self.options.max_backoff, self.options.backoff * 2 ** (attempt - 1))
        delay = random.uniform(delay / 2, delay)  # jitter, so parallel workers do not retry in lockstep
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date instead of seconds: keep our own delay
                delay = min(max(float(retry_after), 0.0), 60.0)
        log.info("retrying in %.1fs after %s", delay, why)
        time.sleep(delay)

    def error_for(self, resp: requests.Response, what: str) -> Exception:
        if status_is_https_hint(resp, self.options.plain_http):
            resp.close()
            return TransportError(f"{self.host} speaks HTTPS, not plain HTTP: drop --plain-http")
        codes, messages = _error_body(resp)
        detail = "; ".join(messages) if messages else f"HTTP {resp.status_code}"
        status = resp.status_code
        resp.close()
        if status == 404:
            return NotFoundError(f"{what}: not found ({detail})")
        if status in (401, 403):
            match = _REPO_PATH.match(urllib.parse.urlsplit(resp.url or "").path)
            target = f"repository {match.group('name')}" if match else what
            creds = self._credentials()
            who = f"user {creds.username!r}" if creds else f"anonymous access (run `modelpack login {self.host}`)"
            return AuthenticationError(f"{self.host} denied {who} to {target} ({detail})")
        return RegistryError(f"{what}: {self.host} answered HTTP {status} ({detail})", status, tuple(codes))

    # -- oras-py integration: its helpers (tag listing, pagination) go through send() -----------
    def do_request(
        self,
        url: str,
        method: str = "GET",
        data: Any = None,
        headers: dict | None = None,
        json: dict | None = None,
        stream: bool = False,
    ) -> requests.Response:
        if json is not None:
            import json as _json

            data = _json.dumps(json).encode()
            headers = {**(headers or {}), "Content-Type": "application/json"}
        return self.send(method, url, headers={k: v for k, v in (headers or {}).items() if k != "Authorization"},
                         body=data, stream=stream, ok=range(100, 600))

    def _check_200_response(self, response: requests.Response) -> None:
        if response.status_code not in (200, 201, 202):
            raise self.error_for(response, f"{response.request.method} {_redact(response.url)}")

    def container(self, repository: str) -> oras.container.Container:
        return oras.container.Container(repository, registry=self.host)

    def ping(self) -> None:
        """GET /v2/: checks reachability and, when logged in, the credentials."""
        self.send("GET", "/v2/", scope="", what=f"registry {self.host}")


def status_is_https_hint(resp: requests.Response, plain_http: bool) -> bool:
    """Go servers answer a plain-HTTP request on a TLS port with 400 and this sentence."""
    return plain_http and resp.status_code == 400 and b"HTTPS server" in (resp.content or b"")[:512]


def _error_body(resp: requests.Response) -> tuple[list[str], list[str]]:
    try:
        body = resp.json() if resp.content and len(resp.content) < 65536 else {}
    except ValueError:
        return [], []
    codes, messages = [], []
    for err in (body.get("errors") or []) if isinstance(body, dict) else []:
        if isinstance(err, dict):
            codes.append(str(err.get("code", "")))
            messages.append(f"{err.get('code', '')}: {err.get('message', '')}".strip(": "))
    return codes, messages


def _redact(url: str) -> str:
    """Drop the query string: upload URLs carry opaque state we have no need to print."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query="", netloc=parts.netloc.rsplit("@", 1)[-1]))


def _tls_message(host: str, exc: Exception, plain_http: bool) -> str:
    text = str(exc)
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return f"TLS handshake with {host} failed: it seems to speak plain HTTP (use --plain-http)"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        reason = text.split("certificate verify failed:", 1)[-1].split("(")[0].strip(" ')\"")
        return f"TLS certificate of {host} not trusted ({reason}); use --ca-file, or --insecure to skip checks"
    return f"TLS connection to {host} failed"


def _connection_message(host: str, exc: Exception) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return f"cannot connect to {host}: connection refused"
    if isinstance(exc, requests.Timeout):
        return f"{host} did not answer in time"
    if "name or service not known" in text or "nodename nor servname" in text or "failed to resolve" in text:
        return f"cannot resolve host {host}"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or "reset" in text or "aborted" in text:
        return f"connection to {host} was cut"
    return f"cannot connect to {host}"
