"""The registry HTTP client: every request to a registry (and the hosts it redirects to) is sent here.

Every operation is bounded in time: a metadata request (manifest, HEAD, tags, token) has `timeout`
seconds in all, retries included; a blob transfer may take as long as it keeps making progress (see
`watch`). Retries use exponential backoff with jitter on connection errors, timeouts, 408, 429 and 5xx
(honouring Retry-After; see `backoff`). Bodies are read with caps (see `bodies`), redirects are followed
so each hop carries only its own host's credentials (see `hops` and `hostauth`). Request bodies are *openers* (callables
returning a fresh stream), so a retried upload re-reads its file instead of holding it in memory.
Credentials never reach a log line or an error message.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from concurrent.futures import Future

from modelpack.errors import (
    AuthenticationError,
    ModelpackError,
    NotFoundError,
    RegistryError,
    TransportError,
)
from modelpack.store.auth_keys import REPO_PATH, repository_of_path
from modelpack.store.backoff import Backoff
from modelpack.store.bodies import ERROR_BODY_LIMIT, METADATA_LIMIT, finish, read_capped
from modelpack.store.credentials import Credentials
from modelpack.store.curl_engine import Answer, CurlEngine, CurlFailure, Exchange, UnusableRequest, outcome
from modelpack.store.given_urls import check_url
from modelpack.store.hops import Body, Hops, whole_cap
from modelpack.store.hostauth import HostAuth, host_of
from modelpack.store.messages import (
    RETRY_STATUS,
    connection_message,
    path_of,
    redact,
    tls_error,
    who,
)
from modelpack.store.options import ClientOptions
from modelpack.store.refusals import not_a_registry, refusal
from modelpack.store.token_request import TokenRequests
from modelpack.store.transport import DEFAULT_HEADERS, Response, Transport
from modelpack.store.upload import FileBody
from modelpack.store.watch import PROGRESS_BYTES, Watch, watching
from modelpack.store.wire_errors import tls_errors, unusable_url_errors, wire_errors

log = logging.getLogger("modelpack.registry")


class RegistryClient:
    def __init__(self, host: str, options: ClientOptions | None = None) -> None:
        self.options = options or ClientOptions()
        self.host = host
        self.base = f"{'http' if self.options.plain_http else 'https'}://{host}"
        self._local = threading.local()
        self._cancelled = threading.Event()
        self._transport = Transport(self.options.verify)
        self._engine = CurlEngine(self.options.verify)  # small exchanges (see curl_engine)
        self._unverified: Transport | None = None  # for speaks_tls()'s probe
        self._backoff = Backoff(host, self.options, self._cancelled)
        self.auth = HostAuth(host, self.options.credentials, self.options.plain_http,
                             TokenRequests(host, self._transport, self.options, self._backoff.wait))
        self._hops = Hops(host, self.options, self.auth, self._transport, self._engine)
        self._is_registry: bool | None = None  # not known until a 404 asks (see _no_registry)

    def __repr__(self) -> str:
        return f"RegistryClient({self.host!r})"

    def close(self) -> None:
        """Close this host's connections and end the transfer engine's thread (both start again if used)."""
        self._engine.close()
        self._transport.close()
        if self._unverified is not None:
            self._unverified.close()

    def cancel(self) -> None:
        """Stop waiting to retry: a transfer being abandoned (Ctrl-C, a failed sibling) must not sit
        out a back-off of up to a minute in a worker thread first."""
        self._cancelled.set()

    def resume(self) -> None:
        """Retry again after a cancelled transfer has ended (the client serves the next one)."""
        self._cancelled.clear()

    @property
    def cancelled(self) -> bool:
        """Whether the transfer under way is being abandoned: downloads stop at their next read."""
        return self._cancelled.is_set()

    def _credentials(self, url: str = "") -> Credentials | None:
        """The credentials a request to `url` on the registry host went with (a repository's own, if any)."""
        return self.auth.credentials(self.host, repository_of_path(urllib.parse.urlsplit(url).path))

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
        transfer: bool = False,
        limit: int = METADATA_LIMIT,
        buffer: int | None = None,
        spent: float = 0.0,
        before_retry: Callable[[Exception], None] | None = None,
    ) -> Response:
        """Send with auth, time bounds and retries; raise a typed error unless the status is in `ok`.

        Args:
            stream: leave the body to the caller (read it under the same bounds), else read it here,
                at most `limit` bytes.
            transfer: a blob download: once the headers are in, the body is bounded by progress, not by
                the total timeout.
            buffer: with `stream`, a body known to be at most this many bytes: read whole (in `content`)
                by the curl engine instead of left on the wire.
            spent: seconds an earlier attempt of the same request already waited (a quick fetch handed
                back, see `quick_fetch`): taken off the deadline, so one `timeout` covers both.
            before_retry: called with the first refusal worth retrying (a 5xx, 429), before any wait; it
                may raise to end the request there (a refusal another request explains, see `blob_digest`).

        Raises:
            TransportError: the registry could not be reached or did not answer in time.
            AuthenticationError, NotFoundError, RegistryError: the registry's answer.
        """
        retries = self.options.retries if retries is None else retries
        if url.startswith("/"):
            url = self.base + url
        self._check_given(method, url)  # a Link page or an upload Location (ours pass)
        scope = self.scope_for(method, url) if scope is None else scope
        ok = set(ok)
        uploading = isinstance(body, FileBody)
        # An upload's time is its body's; the bound starts when the registry's answer is awaited.
        deadline = None if uploading else time.monotonic() + self.options.timeout - spent
        attempt = 0
        auth_tries = 0
        refusal: Exception | None = None  # the last answer retried, which a deadline met later reports
        while True:
            attempt += 1
            watch = Watch(self.options.timeout if uploading else self.options.attempt, deadline,
                          cancelled=self._cancelled)
            try:
                resp = self._hops.attempt(method, url, headers, body, scope, watch,
                                          whole_cap(method, body, stream, buffer, limit))
            except CurlFailure as exc:
                if exc.tls:
                    raise tls_error(self.host, exc) from None
                self._backoff.after_failure(method, url, exc, watch, attempt, retries, deadline, refusal)
                continue
            except tls_errors() as exc:
                raise tls_error(self.host, exc) from None
            except unusable_url_errors(UnusableRequest, UnicodeError):
                raise RegistryError(f"{self.host} sent an unusable URL or name") from None
            except ModelpackError:
                # Ours, and final: a token service's refusal (AuthenticationError is an OSError too) is no
                # network failure to retry and report as "cannot connect".
                raise
            except wire_errors() as exc:
                self._backoff.after_failure(method, url, exc, watch, attempt, retries, deadline, refusal)
                continue
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s -> %s", method, redact(resp.url), resp.status_code)
            if resp.status_code == 401 and auth_tries < 2:
                if not self.auth.may_authenticate(method, url):
                    finish(resp)
                    raise AuthenticationError(f"{host_of(url)}, where {self.host} sent a {method}, asks for "
                                              "credentials; refused (they would be used for a request it chose)")
                auth_tries += 1
                finish(resp)
                self.auth.learn(resp.url, resp.headers.get("WWW-Authenticate", ""), scope, resp.authorized)
                continue
            if resp.status_code in RETRY_STATUS and attempt <= retries:
                retry_after = resp.headers.get("Retry-After")
                refusal = self.error_for(resp, what or f"{method} {redact(url)}")  # reads and finishes it
                if isinstance(refusal, NotFoundError):  # an origin's 404 a cache relayed as a 500: no retry helps
                    raise refusal
                if before_retry is not None and attempt == 1:
                    before_retry(refusal)
                if self._backoff.wait(attempt, retries, retry_after, deadline,
                               f"{who(resp.url)} answered {method} {path_of(resp.url)} with HTTP {resp.status_code}"):
                    continue
                raise refusal
            if resp.status_code in ok or (allow_404 and resp.status_code == 404):
                if transfer:
                    watch.deadline = None  # headers are in: the body is bounded by progress alone
                if not stream and method != "HEAD":
                    try:
                        resp.content = read_capped(resp, limit, what or f"{method} {redact(url)}")
                    except wire_errors() as exc:
                        resp.close()
                        self._backoff.after_failure(method, url, exc, watch, attempt, retries, deadline, refusal)
                        continue
                    finish(resp)
                resp.watch = watch
                return resp
            raise self.error_for(resp, what or f"{method} {redact(url)}")

    def start_once(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                   cap: int = ERROR_BODY_LIMIT, scope: str | None = None) -> Future[Answer]:
        """One attempt of a small exchange, begun on the curl engine and not waited for: no redirect,
        retry or authentication step is taken (see `quick_upload`, whose caller falls back to `send()`
        for anything but the expected answer). The registry's credentials go to its own host only.
        `scope`: the token scope, when the caller worked it out once for many requests."""
        return self.begin_once(self.prepare_once(method, url, headers, body, cap, scope))

    def prepare_once(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                     cap: int = ERROR_BODY_LIMIT, scope: str | None = None, stall: float | None = None) -> Exchange:
        """`start_once`'s exchange, authorized (which may ask a token service or a credential helper).
        `stall`: how long it may go without progress (default: as a blob transfer, `options.stall`).

        Raises:
            RegistryError: `url` (an upload Location) cannot be requested (see `given_urls`): it does not
                parse, is not HTTP(S), holds control characters or a backslash, or leaves HTTPS for HTTP.
        """
        if url.startswith("/"):
            url = self.base + url
        self._check_given(method, url)
        sent = {**DEFAULT_HEADERS, **headers}
        if self.auth.asked and self.auth.may_authenticate(method, url):  # else no scope to work out per request
            auth = self.auth.header(url, self.scope_for(method, url) if scope is None else scope)
            if auth:
                sent["Authorization"] = auth
        return Exchange(method, url, sent, body, cap, self.options.connect_timeout, self.options.timeout,
                        self.options.stall if stall is None else stall, PROGRESS_BYTES, self._transport.proxy(url))

    def _check_given(self, method: str, url: str) -> None:
        """Refuse a registry-given URL that cannot be requested (see `given_urls`): a client that speaks
        HTTPS does not leave it, as for a redirect."""
        check_url(url, f"{self.host} sent a link for {method}", https=not self.options.plain_http)

    def begin_once(self, exchange: Exchange) -> Future[Answer]:
        """Hand a prepared exchange to the curl engine (this waits for nothing)."""
        future = self._engine.start(exchange)
        if log.isEnabledFor(logging.DEBUG):  # -v: logged as send() logs its requests
            method, url = exchange.method, exchange.url
            future.add_done_callback(lambda done: log.debug("%s %s -> %s", method, redact(url), outcome(done)))
        return future

    def scope_for(self, method: str, url: str) -> str:
        """The token scope a request needs, derived from its path: pull for reads, pull,push for
        writes, delete for deletes."""
        path = urllib.parse.urlsplit(url).path
        match = REPO_PATH.match(path)
        if not match:
            return ""
        actions = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(method.upper(), "pull,push")
        return f"repository:{match.group('name')}:{actions}"

    def error_for(self, resp: Response, what: str) -> Exception:
        """The typed error for a refusal (see `refusals.refusal`); the response is finished here. A 404
        no registry explained, from a host that is no registry at all, is said to be that instead (see
        `not_a_registry`), whatever the command: the one place this is decided."""
        error = refusal(resp, what, self.host, self.options.plain_http, self._credentials(resp.url))
        if isinstance(error, NotFoundError) and error.unexplained and self._no_registry(resp.url):
            return not_a_registry(self.host)
        return error

    def _no_registry(self, url: str) -> bool:
        """Whether this host answers 404 to `GET /v2/`, which every registry serves (a port typed wrong:
        `serve` and `ui` answer 404 with a body of their own). Costs one request, only on the way to an
        error, once per client; `url`, the 404's own, may be `/v2/` itself (`login`'s ping)."""
        if self._is_registry is None:
            if urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(self.base).netloc \
                    and urllib.parse.urlsplit(url).path == "/v2/":
                self._is_registry = False
            else:
                try:
                    answer = self.send("GET", "/v2/", scope="", ok=(200,), allow_404=True, retries=0,
                                       what=f"registry {self.host}")
                    self._is_registry = answer.status_code != 404
                except ModelpackError:  # a 401 it would not take, a 500: a registry, or as good as one
                    self._is_registry = True
        return not self._is_registry

    def speaks_tls(self) -> bool:
        """Whether the host answers HTTPS (an `insecure` registries.conf host may speak plain HTTP only:
        tried as containers/image does, HTTPS first, certificates unchecked).

        Raises:
            TransportError: nothing answers either way.
        """
        watch = Watch(self.options.attempt, time.monotonic() + self.options.timeout)
        if self._unverified is None:
            self._unverified = Transport(verify=False)
        try:
            with watching(watch):
                self._unverified.request("GET", f"https://{self.host}/v2/", {}, None,
                                         (min(self.options.connect_timeout, self.options.attempt),
                                          self.options.attempt)).close()
        except tls_errors():
            return False
        except wire_errors() as exc:
            raise TransportError(connection_message(self.host, exc)) from None
        return True

    def ping(self, scope: str = "") -> None:
        """GET /v2/: checks reachability and, when logged in, the credentials (a token registry's with a
        token for `scope`, e.g. `repository:team/model:pull`; none named: a token for no repository)."""
        self.send("GET", "/v2/", scope=scope, what=f"registry {self.host}")

