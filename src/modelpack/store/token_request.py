"""The token service's requests of one registry client (see `auth.TokenCache`, which decides what to ask).

Bounded like any metadata request: `--timeout` in all, retries included, and 4 MiB of body. A token service
is a web service like the registry and fails like one, so a connection that fails or an answer of 429 or
5xx is retried with the client's back-off; what it answers otherwise (a refusal, a bad body) is final.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable

from modelpack import advice
from modelpack.errors import AuthenticationError, RegistryError
from modelpack.store.bodies import METADATA_LIMIT, read_capped
from modelpack.store.hostauth import host_of
from modelpack.store.messages import RETRY_STATUS, retry_limit
from modelpack.store.not_http import final_failure
from modelpack.store.options import ClientOptions
from modelpack.store.transport import Transport
from modelpack.store.watch import Watch, watching
from modelpack.store.wire_errors import wire_errors

# (attempt, retries, Retry-After, deadline, why) -> whether to try again (after sleeping)
Retry = Callable[[int, int, str | None, float | None, str], bool]


class TokenRequests:
    """Sends a token service's requests for the client of `host` (the `TokenFetch` of `auth`)."""

    def __init__(self, host: str, transport: Transport, options: ClientOptions, retry: Retry) -> None:
        self._host = host
        self._transport = transport
        self._options = options
        self._retry = retry

    def __call__(self, method: str, url: str, headers: dict[str, str], params: list[tuple[str, str]],
                 form: dict[str, str] | None) -> tuple[int, bytes]:
        """The token service's status and body (the body only for a 200).

        Raises:
            AuthenticationError: the token service could not be reached or sent an unreadable body, after
                the retries the options allow.
        """
        options = self._options
        deadline = time.monotonic() + options.timeout
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        last_status: int | None = None
        for attempt in range(1, options.retries + 2):
            watch = Watch(options.attempt, deadline)
            try:
                with watching(watch):
                    resp = self._transport.request(method, url, headers, body,
                                                   (options.connect_timeout, options.attempt))
                with resp:
                    data = read_capped(resp, METADATA_LIMIT, "token response") if resp.status_code == 200 else b""
            except wire_errors() as exc:
                if (final := final_failure(host_of(url), f"{method} {urllib.parse.urlsplit(url).path}", exc,
                                           False)) is not None:
                    raise final from None  # the same again if asked again: said at once
                what = "did not answer in time" if watch.expired or "timed out" in str(exc).lower() \
                    else f"could not be reached ({type(exc).__name__})"
                why = f"the token service of {self._host} ({host_of(url)}) {what}"
                spent = attempt > retry_limit(exc, options.retries)
                if not spent and self._retry(attempt, options.retries, None, deadline, why):
                    continue
                if last_status is not None and not spent:
                    # The time ran out retrying a service that did answer: its answer is the news.
                    return last_status, b""
                raise AuthenticationError(why, advice=advice.longer_timeout(options.timeout)) from None
            except RegistryError as exc:
                raise AuthenticationError(f"token service of {self._host}: {exc}") from None
            last_status = resp.status_code
            if resp.status_code not in RETRY_STATUS or attempt > options.retries or not self._retry(
                    attempt, options.retries, resp.headers.get("Retry-After"), deadline,
                    f"the token service of {self._host} answered HTTP {resp.status_code}"):
                break
        return resp.status_code, data
