"""One attempt of a registry request: the request and the hops of its redirects, each hop authenticated
for its own host only (see `hostauth`), sent through urllib3 (a stream) or the curl engine (read whole).
A redirect's target is checked as any registry-given URL (`given_urls`): HTTPS is never left for plain HTTP.
Only a read (GET, HEAD) follows a redirect to another host: a write (PUT, PATCH, POST, DELETE) sent on
there would carry that host's credentials, for a request the redirecting registry chose.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from typing import Any

from modelpack.errors import RegistryError
from modelpack.store.bodies import ERROR_BODY_LIMIT, finish
from modelpack.store.curl_engine import Answer, CurlEngine, CurlFailure, Exchange
from modelpack.store.given_urls import check_url, joined
from modelpack.store.hostauth import HostAuth, host_of
from modelpack.store.messages import path_of, seconds, who
from modelpack.store.options import ClientOptions
from modelpack.store.transport import DEFAULT_HEADERS, Response, Transport
from modelpack.store.upload import SMALL_BODY, FileBody, SizedReader, Stopped, read_whole
from modelpack.store.watch import CANCEL_POLL, SAY_WAITING_AFTER, Watch, watching
from modelpack.threads import result_of

log = logging.getLogger("modelpack.registry")

REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
Body = bytes | FileBody | None


class Hops:
    """Sends one attempt of the client of `host` (see `RegistryClient.send`, which retries)."""

    def __init__(self, host: str, options: ClientOptions, auth: HostAuth, transport: Transport,
                 engine: CurlEngine) -> None:
        self._host = host
        self._options = options
        self._auth = auth
        self._transport = transport
        self._engine = engine
        self._waiting_said: dict[tuple[str, str], float] = {}  # (method, URL) -> when its silence was last said

    def attempt(self, method: str, url: str, headers: dict[str, str] | None, body: Body, scope: str,
                watch: Watch, whole: int | None) -> Response:
        """One attempt: the request and its redirects, each hop authenticated for its own host only.
        With `whole` (a cap), each hop is read whole by the curl engine, else left on urllib3's stream.

        Raises:
            RegistryError: a redirect or link the client refuses, or too many redirects.
            TimeoutError: the deadline passed between hops.
        """
        options = self._options
        timeout = (min(options.connect_timeout, options.attempt), options.stall)
        if isinstance(body, FileBody):
            timeout = (max(options.connect_timeout, options.stall), options.stall)
        for _ in range(MAX_REDIRECTS + 1):
            if watch.deadline is not None:
                left = watch.deadline - time.monotonic()
                if left <= 0:
                    watch.expired = "deadline"
                    raise TimeoutError("deadline passed")
                timeout = (min(timeout[0], left), timeout[1])
            req_headers = dict(headers or {})
            auth = self._auth.header(url, scope) if self._auth.may_authenticate(method, url) else None
            if auth:
                req_headers["Authorization"] = auth
            if whole is not None:
                resp = self._whole(method, url, req_headers, body, whole, watch, timeout[0])
            else:
                data: Any = body.opener() if isinstance(body, FileBody) else body
                if isinstance(body, FileBody):
                    body.opened = data
                try:
                    payload = SizedReader(data, body) if isinstance(body, FileBody) else data
                    watch.on_quiet = self._quiet_notice(method, url, watch.stall)
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
            said = f"{who(url)} redirected {method} {path_of(url)}"
            target = check_url(joined(url, location, said), said, https=url.lower().startswith("https://"))
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method not in ("GET", "HEAD")):
                method, body = "GET", None
            elif method not in ("GET", "HEAD") and host_of(target) != host_of(url):
                # Each hop is authenticated for its own host: a hostile registry would have our DELETE or PUT
                # sent, with that host's credentials, to a registry the user is logged in to.
                raise RegistryError(f"{said} to another host, {host_of(target)}; refused (a {method} goes to the "
                                    "registry it was meant for)")
            url = target
        raise RegistryError(f"{self._host}: more than {MAX_REDIRECTS} redirects for {method} {path_of(url)}")

    def _whole(self, method: str, url: str, headers: dict[str, str], body: Body, cap: int, watch: Watch,
               connect: float) -> Response:
        """One hop through the curl engine, under the same bounds as a streamed one."""
        payload = read_whole(body) if isinstance(body, FileBody) else body
        total = None if watch.deadline is None else watch.deadline - time.monotonic()
        request = Exchange(method, url, {**DEFAULT_HEADERS, **headers}, payload, cap, connect, total, watch.stall,
                           watch.min_bytes, self._transport.proxy(url))
        try:
            answer = self._exchange(request, watch)
        except CurlFailure as exc:
            if exc.timed_out:
                ended = watch.deadline is not None and time.monotonic() >= watch.deadline - 0.05
                watch.expired = "deadline" if ended else "stall"
            raise
        if isinstance(body, FileBody) and body.progress:
            body.progress(body.size)
        return Response(None, url, method, "Authorization" in headers, answer=answer)


    def _exchange(self, request: Exchange, watch: Watch) -> Answer:
        """The engine's answer; a worker's wait ends once its transfer is abandoned (Ctrl-C, a failed
        sibling), as a streamed read's does: a closing PUT a registry held kept an interrupted push for
        the stall bound (30 s).

        Raises:
            Stopped: the transfer was abandoned meanwhile (the exchange is dropped).
        """
        future: Future[Answer] = self._engine.start(request)
        if watch.cancelled is None or threading.current_thread() is threading.main_thread():
            try:  # (the main thread wakes on a signal: see result_of; another waits plainly, as cheaper)
                if threading.current_thread() is not threading.main_thread():
                    with contextlib.suppress(TimeoutError):
                        future.exception(timeout=SAY_WAITING_AFTER)  # returns once answered, raising nothing
                while not future.done() and time.monotonic() - request.began < SAY_WAITING_AFTER:
                    wait((future,), timeout=CANCEL_POLL)
                if not future.done():
                    self._say_waiting(request.method, request.url, request.stall)
                return result_of(future)
            except BaseException:  # Ctrl-C: the exchange must not go on (nor be retried) behind our back
                self._engine.abandon(request)
                raise
        said = False
        while True:
            try:
                future.exception(timeout=CANCEL_POLL)  # returns once answered, raising nothing
            except TimeoutError:
                if watch.cancelled.is_set():
                    self._engine.abandon(request)
                    raise Stopped("the exchange was stopped") from None
                if not said and time.monotonic() - request.began >= SAY_WAITING_AFTER:
                    said = True
                    self._say_waiting(request.method, request.url, request.stall)
                continue
            return future.result()

    def _say_waiting(self, method: str, url: str, stall: float, started: bool = False) -> None:
        """A registry silent for SAY_WAITING_AFTER seconds is named while the attempt goes on (on a terminal,
        or with -v): a hung registry showed nothing for the stall bound (30 s), a hang to whoever waits, and a
        blob stalled midway a frozen bar. `started`: part of the answer had come."""
        now = time.monotonic()
        if now - self._waiting_said.get((method, url), -SAY_WAITING_AFTER) < SAY_WAITING_AFTER:
            return  # the other ranges of a blob, stalled with it: one line says it
        self._waiting_said[(method, url)] = now
        awaited = f"sent nothing more of its answer to {method}" if started else f"not answered {method}"
        message = (f"{who(url)} has {awaited} {path_of(url)} in {seconds(SAY_WAITING_AFTER)}; waiting (the attempt "
                   f"ends after {seconds(stall)} of silence; Ctrl-C stops)")
        if self._options.on_retry is not None:
            self._options.on_retry(message)
        else:
            log.info("%s", message)

    def _quiet_notice(self, method: str, url: str, stall: float) -> Callable[[bool], None]:
        """What a streamed answer's watch tells of a silence (see `_say_waiting`)."""
        return lambda started: self._say_waiting(method, url, stall, started)


def whole_cap(method: str, body: Body, stream: bool, buffer: int | None, limit: int) -> int | None:
    """How many body bytes to read whole through the curl engine, or None to stream with urllib3: what is
    small both ways goes whole (no body, a manifest or a small file up; an answer read here, or a blob
    known to be small, down). Large uploads and downloads stream in constant memory."""
    if isinstance(body, FileBody) and (body.size > SMALL_BODY or body.abort is not None):
        return None
    if stream:
        return buffer
    return max(limit, ERROR_BODY_LIMIT) + 1
