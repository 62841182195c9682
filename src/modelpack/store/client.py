"""The registry HTTP client: every request to a registry (and the hosts it redirects to) is sent here.

Every operation is bounded in time: a metadata request (manifest, HEAD, tags, token) has `timeout`
seconds in all, retries included; a blob transfer may take as long as it keeps making progress (see
`watch`). Retries use exponential backoff with jitter on connection errors, timeouts, 408, 429 and 5xx
(honouring Retry-After). Bodies are read with caps (see `bodies`), redirects are followed here so each
hop carries only its own host's credentials (see `hostauth`). Request bodies are *openers* (callables
returning a fresh stream), so a retried upload re-reads its file instead of holding it in memory.
Credentials never reach a log line or an error message.
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
from concurrent.futures import Future
from typing import Any

import urllib3

from modelpack import advice
from modelpack.errors import (
    ModelpackError,
    RegistryError,
    TransportError,
)
from modelpack.store.bodies import ERROR_BODY_LIMIT, METADATA_LIMIT, finish, read_capped
from modelpack.store.credentials import Credentials
from modelpack.store.curl_engine import Answer, CurlEngine, CurlFailure, Exchange, UnusableRequest, outcome
from modelpack.store.hostauth import HostAuth, host_of
from modelpack.store.messages import (
    RETRY_STATUS,
    WIRE_ERRORS,
    connection_message,
    path_of,
    redact,
    retry_limit,
    seconds,
    tls_error,
    who,
)
from modelpack.store.options import ClientOptions
from modelpack.store.refusals import REPO_PATH, refusal
from modelpack.store.token_request import TokenRequests
from modelpack.store.transport import DEFAULT_HEADERS, Response, Transport, timed_out
from modelpack.store.upload import SMALL_BODY, FileBody, SizedReader, read_whole
from modelpack.store.watch import PROGRESS_BYTES, Watch, watching

log = logging.getLogger("modelpack.registry")
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
Body = bytes | FileBody | None


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
        self.auth = HostAuth(host, self.options.credentials, self.options.plain_http,
                             TokenRequests(host, self._transport, self.options, self._retry))
        if self.options.insecure:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

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

    def _credentials(self) -> Credentials | None:
        return self.auth.credentials(self.host)

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
    ) -> Response:
        """Send with auth, time bounds and retries; raise a typed error unless the status is in `ok`.

        Args:
            stream: leave the body to the caller (read it under the same bounds), else read it here,
                at most `limit` bytes.
            transfer: a blob download: once the headers are in, the body is bounded by progress, not by
                the total timeout.
            buffer: with `stream`, a body known to be at most this many bytes: read whole (in `content`)
                by the curl engine instead of left on the wire.

        Raises:
            TransportError: the registry could not be reached or did not answer in time.
            AuthenticationError, NotFoundError, RegistryError: the registry's answer.
        """
        retries = self.options.retries if retries is None else retries
        if url.startswith("/"):
            url = self.base + url
        scope = self.scope_for(method, url) if scope is None else scope
        ok = set(ok)
        uploading = isinstance(body, FileBody)
        # An upload's time is its body's; the bound starts when the registry's answer is awaited.
        deadline = None if uploading else time.monotonic() + self.options.timeout
        attempt = 0
        auth_tries = 0
        refusal: Exception | None = None  # the last answer retried, which a deadline met later reports
        while True:
            attempt += 1
            watch = Watch(self.options.timeout if uploading else self.options.attempt, deadline,
                          cancelled=self._cancelled)
            try:
                resp = self._exchange(method, url, headers, body, scope, watch, _whole_cap(method, body, stream,
                                                                                           buffer, limit))
            except CurlFailure as exc:
                if exc.tls:
                    raise tls_error(self.host, exc) from None
                self._after_failure(method, url, exc, watch, attempt, retries, deadline, refusal)
                continue
            except urllib3.exceptions.SSLError as exc:
                raise tls_error(self.host, exc) from None
            except (urllib3.exceptions.LocationValueError, UnusableRequest, UnicodeError):
                raise RegistryError(f"{self.host} sent an unusable URL or name") from None
            except ModelpackError:
                # Ours, and final: a token service's refusal (AuthenticationError is an OSError too) is no
                # network failure to retry and report as "cannot connect".
                raise
            except WIRE_ERRORS as exc:
                self._after_failure(method, url, exc, watch, attempt, retries, deadline, refusal)
                continue
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s -> %s", method, redact(resp.url), resp.status_code)
            if resp.status_code == 401 and auth_tries < 2:
                auth_tries += 1
                finish(resp)
                self.auth.learn(resp.url, resp.headers.get("WWW-Authenticate", ""), scope, resp.authorized)
                continue
            if resp.status_code in RETRY_STATUS and attempt <= retries:
                retry_after = resp.headers.get("Retry-After")
                refusal = self.error_for(resp, what or f"{method} {redact(url)}")  # reads and finishes it
                if self._retry(attempt, retries, retry_after, deadline,
                               f"{who(resp.url)} answered {method} {path_of(resp.url)} with HTTP {resp.status_code}"):
                    continue
                raise refusal
            if resp.status_code in ok or (allow_404 and resp.status_code == 404):
                if transfer:
                    watch.deadline = None  # headers are in: the body is bounded by progress alone
                if not stream and method != "HEAD":
                    try:
                        resp.content = read_capped(resp, limit, what or f"{method} {redact(url)}")
                    except WIRE_ERRORS as exc:
                        resp.close()
                        self._after_failure(method, url, exc, watch, attempt, retries, deadline, refusal)
                        continue
                    finish(resp)
                resp.watch = watch
                return resp
            raise self.error_for(resp, what or f"{method} {redact(url)}")

    def _exchange(self, method: str, url: str, headers: dict[str, str] | None, body: Body, scope: str,
                  watch: Watch, whole: int | None) -> Response:
        """One attempt: the request and its redirects, each hop authenticated for its own host only.
        With `whole` (a cap), each hop is read whole by the curl engine, else left on urllib3's stream."""
        timeout = (min(self.options.connect_timeout, self.options.attempt), self.options.stall)
        if isinstance(body, FileBody):
            timeout = (max(self.options.connect_timeout, self.options.stall), self.options.stall)
        _check_scheme(url, f"{self.host} sent a link for {method}")  # a Link page or an upload Location
        for _ in range(MAX_REDIRECTS + 1):
            if watch.deadline is not None:
                left = watch.deadline - time.monotonic()
                if left <= 0:
                    watch.expired = "deadline"
                    raise TimeoutError("deadline passed")
                timeout = (min(timeout[0], left), timeout[1])
            req_headers = dict(headers or {})
            auth = self.auth.header(url, scope)
            if auth:
                req_headers["Authorization"] = auth
            if whole is not None:
                resp = self._exchange_whole(method, url, req_headers, body, whole, watch, timeout[0])
            else:
                data: Any = body.opener() if isinstance(body, FileBody) else body
                try:
                    payload = SizedReader(data, body) if isinstance(body, FileBody) else data
                    with watching(watch):
                        resp = self._transport.request(method, url, req_headers, payload, timeout,
                                                       body.size if isinstance(body, FileBody) else None)
                finally:
                    if hasattr(data, "close"):
                        data.close()
            location = resp.headers.get("Location")
            if resp.status_code not in REDIRECT_STATUS or not location:
                return resp
            finish(resp)
            target = urllib.parse.urljoin(url, location)
            _check_scheme(target, f"{who(url)} redirected {method} {path_of(url)}")
            if url.startswith("https://") and not target.startswith("https://"):
                raise RegistryError(f"{who(url)} redirected {method} {path_of(url)} from HTTPS to plain HTTP; refused")
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method not in ("GET", "HEAD")):
                method, body = "GET", None
            url = target
        raise RegistryError(f"{self.host}: more than {MAX_REDIRECTS} redirects for {method} {path_of(url)}")

    def _exchange_whole(self, method: str, url: str, headers: dict[str, str], body: Body, cap: int, watch: Watch,
                        connect: float) -> Response:
        """One hop through the curl engine, under the same bounds as a streamed one."""
        payload = read_whole(body) if isinstance(body, FileBody) else body
        total = None if watch.deadline is None else watch.deadline - time.monotonic()
        request = Exchange(method, url, {**DEFAULT_HEADERS, **headers}, payload, cap, connect, total, watch.stall,
                           watch.min_bytes, self._transport.proxy(url))
        try:
            answer = self._engine.exchange(request)
        except CurlFailure as exc:
            if exc.timed_out:
                ended = watch.deadline is not None and time.monotonic() >= watch.deadline - 0.05
                watch.expired = "deadline" if ended else "stall"
            raise
        if isinstance(body, FileBody) and body.progress:
            body.progress(body.size)
        return Response(None, url, method, "Authorization" in headers, answer=answer)

    def start_once(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                   cap: int = ERROR_BODY_LIMIT, scope: str | None = None) -> Future[Answer]:
        """One attempt of a small exchange, begun on the curl engine and not waited for: no redirect,
        retry or authentication step is taken (see `quick_upload`, whose caller falls back to `send()`
        for anything but the expected answer). The registry's credentials go to its own host only.
        `scope`: the token scope, when the caller worked it out once for many requests."""
        return self.begin_once(self.prepare_once(method, url, headers, body, cap, scope))

    def prepare_once(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                     cap: int = ERROR_BODY_LIMIT, scope: str | None = None) -> Exchange:
        """`start_once`'s exchange, authorized (which may ask a token service or a credential helper)."""
        if url.startswith("/"):
            url = self.base + url
        sent = {**DEFAULT_HEADERS, **headers}
        if self.auth.asked:  # else no host wants credentials: no scope to work out per request
            auth = self.auth.header(url, self.scope_for(method, url) if scope is None else scope)
            if auth:
                sent["Authorization"] = auth
        return Exchange(method, url, sent, body, cap, self.options.connect_timeout, self.options.timeout,
                        self.options.stall, PROGRESS_BYTES, self._transport.proxy(url))

    def begin_once(self, exchange: Exchange) -> Future[Answer]:
        """Hand a prepared exchange to the curl engine (this waits for nothing)."""
        future = self._engine.start(exchange)
        if log.isEnabledFor(logging.DEBUG):  # -v: logged as send() logs its requests
            method, url = exchange.method, exchange.url
            future.add_done_callback(lambda done: log.debug("%s %s -> %s", method, redact(url), outcome(done)))
        return future

    def _after_failure(self, method: str, url: str, exc: Exception, watch: Watch, attempt: int,
                       retries: int, deadline: float | None, refusal: Exception | None) -> None:
        """Decide about a failed attempt: return to retry, or raise the error that ends it: when the time
        runs out while an answer (`refusal`, a 503) is being retried, that answer is the news, not that
        the last attempt, begun with little time left, went unanswered."""
        if self._cancelled.is_set():  # Ctrl-C ended the read: no retry, and no "did not answer within 120 s"
            raise TransportError(f"{self.host}: transfer cancelled") from None
        text = str(exc).lower()
        expired = watch.expired is not None or timed_out(exc) or "timed out" in text
        if expired:
            why = f"{who(url)} did not answer {method} {path_of(url)} within {seconds(watch.stall)}"
        else:
            why = f"{connection_message(host_of(url), exc)} during {method} {path_of(url)}"
        spent = watch.expired != "deadline" and attempt > retry_limit(exc, retries)
        if not spent and watch.expired != "deadline" and self._retry(attempt, retries, None, deadline, why):
            return
        if refusal is not None and not spent:
            raise refusal from None
        if expired:
            total = self.options.timeout if deadline is not None else watch.stall
            raise TransportError(f"{who(url)} did not answer {method} {path_of(url)} within {seconds(total)}",
                                 advice=advice.longer_timeout(self.options.timeout)) from None
        raise TransportError(connection_message(host_of(url), exc)) from None

    def _retry(self, attempt: int, retries: int, retry_after: str | None, deadline: float | None,
               why: str) -> bool:
        """Sleep before the next attempt and return True, or False when the deadline leaves no time."""
        if self._cancelled.is_set():  # abandoned (Ctrl-C): no "retrying in ..." line for what will not be retried
            raise TransportError(f"{self.host}: transfer cancelled")
        delay = min(self.options.max_backoff, self.options.backoff * 2 ** (attempt - 1))
        delay = random.uniform(delay / 2, delay)  # jitter, so parallel workers do not retry in lockstep
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date instead of seconds: keep our own delay
                delay = min(max(float(retry_after), 0.0), 60.0)
        if deadline is not None and time.monotonic() + delay >= deadline:
            return False
        message = f"{why}; retrying in {delay:.1f} s (attempt {attempt + 1} of {retries + 1})"
        if self.options.on_retry is not None:
            self.options.on_retry(message)
        else:
            log.info("%s", message)
        if self._cancelled.wait(delay):
            raise TransportError(f"{self.host}: cancelled while waiting to retry")
        return True

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
        """The typed error for a refusal (see `refusals.refusal`); the response is finished here."""
        return refusal(resp, what, self.host, self.options.plain_http, self._credentials())

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
        except urllib3.exceptions.SSLError:
            return False
        except WIRE_ERRORS as exc:
            raise TransportError(connection_message(self.host, exc)) from None
        return True

    def ping(self) -> None:
        """GET /v2/: checks reachability and, when logged in, the credentials."""
        self.send("GET", "/v2/", scope="", what=f"registry {self.host}")


def _whole_cap(method: str, body: Body, stream: bool, buffer: int | None, limit: int) -> int | None:
    """How many body bytes to read whole through the curl engine, or None to stream with urllib3: what is
    small both ways goes whole (no body, a manifest or a small file up; an answer read here, or a blob
    known to be small, down). Large uploads and downloads stream in constant memory."""
    if isinstance(body, FileBody) and (body.size > SMALL_BODY or body.abort is not None):
        return None
    if stream:
        return buffer
    return max(limit, ERROR_BODY_LIMIT) + 1


_NOT_IN_URLS = re.compile(r"[\x00-\x20\x7f]")


def _check_scheme(url: str, who_sent: str) -> None:
    """Refuse a registry-given URL that is not HTTP(S): libcurl would read a file:// one, speak gopher://...

    Raises:
        RegistryError: naming the scheme.
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise RegistryError(f"{who_sent} to a {scheme[:20]}: URL; refused")
    if _NOT_IN_URLS.search(url):
        # No URL holds these (RFC 3986); libcurl refuses them, which read as a wire failure: retried, and
        # then reported as "cannot connect".
        raise RegistryError(f"{who_sent} to an unusable URL (control characters or spaces); refused")
