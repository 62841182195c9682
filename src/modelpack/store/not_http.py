"""An answer that is not HTTP/1.x: the port is another service's (ssh, a database, a TLS port asked in plain
HTTP), or what answers there is broken. Asked again, it sends the same bytes, so it is said at once, for what
it is: retried as a cut connection, it took ~10 s of back-off to end as "cannot connect to HOST", which
it had just done.

Recognised from libcurl's words (the curl engine) and http.client's exceptions (urllib3's streams, token
requests), whichever carried the exchange.
"""

from __future__ import annotations

import sys

from modelpack.store.curl_engine import CurlFailure

_CURL_UNSUPPORTED_PROTOCOL = 1  # as libcurl files a status line that is not HTTP/1.x ("HTTP/0.9", "Unsupported")
_CURL_WEIRD_SERVER_REPLY = 8  # a status line or framing header it cannot read (two Content-Lengths)


def not_http(exc: BaseException) -> str | None:
    """What was wrong with the answer that ended an exchange, when it was not HTTP; else None.

    Args:
        exc: the exchange's failure (urllib3 wraps http.client's in a ProtocolError).

    Returns:
        A few words for an error line ("a status line that is not HTTP/1.x: 'SSH-2.0-...'"), or None for
        any other failure (a refused, cut or timed-out connection stays what it is, and is retried).
    """
    if isinstance(exc, CurlFailure):
        text = str(exc)
        if exc.code == _CURL_UNSUPPORTED_PROTOCOL and ("HTTP/0.9" in text or "Unsupported HTTP" in text):
            return "a status line that is not HTTP/1.x"
        if exc.code == _CURL_WEIRD_SERVER_REPLY:
            return f"an answer that is not valid HTTP ({text[:80]})"
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
