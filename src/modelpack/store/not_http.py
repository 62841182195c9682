"""Answers that are not (valid) HTTP/1.x, and the other failed exchanges whose answer would be the same if
asked again: said at once, for what they are. Retried as cut connections, they took ~10 s of back-off to
end as "cannot connect to HOST", which had just answered.

- A status line that is not HTTP/1.x: the port is another service's (ssh, a database, a TLS port asked in
  plain HTTP). Exit 5, as a host that is no registry, naming the host and port to check.
- HTTP that breaks its own rules (a carriage return inside a header, two different Content-Lengths): the
  registry, or a proxy in front of it, misbehaves. Exit 1, as response headers past the limits
  (`header_limits`).

Recognised from libcurl's words (the curl engine) and http.client's exceptions (urllib3's streams, token
requests), whichever carried the exchange.
"""

from __future__ import annotations

import sys

from modelpack import advice
from modelpack.errors import ModelpackError, RegistryError, TransportError
from modelpack.store.curl_engine import CurlFailure
from modelpack.store.header_limits import oversized_headers

_CURL_UNSUPPORTED_PROTOCOL = 1  # as libcurl files a status line that is not HTTP/1.x ("HTTP/0.9", "Unsupported")
_CURL_WEIRD_SERVER_REPLY = 8  # HTTP it cannot read: a CR in a header, two Content-Lengths


def final_failure(host: str, request: str, exc: BaseException, plain_http: bool) -> ModelpackError | None:
    """The error ending a failed exchange at once, when asking again would get the same answer; else None
    (a refused, cut or timed-out connection stays what it is, and is retried).

    Args:
        host: the host that answered.
        request: the request, as errors name it ("GET /v2/team/model/tags/list").
        exc: the exchange's failure (urllib3 wraps http.client's in a ProtocolError).
        plain_http: the request was sent without TLS (then the port may be a TLS one).

    Returns:
        TransportError for an answer that is not HTTP; RegistryError for malformed HTTP or headers past
        the limits.
    """
    if (oversized := oversized_headers(host, exc)) is not None:
        return oversized
    if (line := not_http(exc)) is not None:
        fix = advice.compose("check the registry's host and port, or {} if that port speaks HTTPS",
                             advice.plain_http(False)) if plain_http \
            else advice.compose("check the registry's host and port")
        return TransportError(f"{host} answered {request} with {line}", advice=fix)
    if isinstance(exc, CurlFailure) and exc.code == _CURL_WEIRD_SERVER_REPLY:
        return RegistryError(f"registry {host} answered {request} with malformed HTTP ({str(exc)[:80]}); refused "
                             "(the registry or a proxy in front of it misbehaves)")
    return None


def not_http(exc: BaseException) -> str | None:
    """What the answer that ended an exchange began with, when it was not an HTTP/1.x status line; else None.

    Args:
        exc: the exchange's failure.

    Returns:
        A few words for an error line ("a status line that is not HTTP/1.x: 'SSH-2.0-...'"), or None.
    """
    if isinstance(exc, CurlFailure):
        text = str(exc)
        if exc.code == _CURL_UNSUPPORTED_PROTOCOL and ("HTTP/0.9" in text or "Unsupported HTTP" in text):
            return "a status line that is not HTTP/1.x"
        return None
    http_client = sys.modules.get("http.client")
    if http_client is None:  # nothing has used urllib3's streams: none of its failures can be this one
        return None
    cause = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], BaseException) else exc
    if isinstance(cause, http_client.RemoteDisconnected):  # a BadStatusLine too: the connection was cut
        return None
    if isinstance(cause, (http_client.BadStatusLine, http_client.UnknownProtocol)):
        return f"a status line that is not HTTP/1.x: {str(cause.args[0] if cause.args else '')[:40]!r}"
    return None
