"""Response headers past what the HTTP clients read: a registry (or a proxy in front of it) that sends a
header line of megabytes or thousands of headers is misbehaving, not cut off, and asking again gets the
same answer. The limits are libcurl's (the curl engine: metadata requests): 100 KiB per line, 300 KiB and
5,000 headers in all; urllib3's responses (blob streams, token requests) read theirs under the same limits
(`response_headers`), and http.client's own (64 KiB a line, 100 headers) are named should one still apply.
"""

from __future__ import annotations

import re
import sys

from modelpack.errors import RegistryError
from modelpack.store.curl_engine import CurlFailure
from modelpack.store.wire_errors import loaded

_CURL_TOO_LARGE = 100  # CURLE_TOO_LARGE (libcurl 8.6+): pycurl 7.49 names no constant for it
_CURL_LINE_KIB = 100  # CURL_MAX_HTTP_HEADER


def oversized_headers(host: str, exc: BaseException) -> RegistryError | None:
    """The error for a failed exchange whose response headers went past the HTTP client's limits, else None.

    Args:
        host: the host that answered.
        exc: the exchange's failure (urllib3 wraps http.client's in a ProtocolError).

    Returns:
        A RegistryError (exit 1) saying what the registry sent, or None for any other failure.
    """
    cause = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], BaseException) else exc.__context__
    what = _curl(exc) if isinstance(exc, CurlFailure) else _http_client(cause if cause is not None else exc)
    if what is None:
        return None
    return RegistryError(f"registry {host} sent {what}; refused (the registry or a proxy in front of it misbehaves)")


def _curl(exc: CurlFailure) -> str | None:
    text = str(exc)
    if total := re.search(r"Too large response headers: \d+ > (\d+)", text):
        return f"response headers over {int(total.group(1)) // 1024} KiB"
    if count := re.search(r"Too many response headers, (\d+) is max", text):
        return f"more than {count.group(1)} response headers"
    if exc.code == _CURL_TOO_LARGE:
        return f"a response header line over {_CURL_LINE_KIB} KiB"
    return None


def _http_client(exc: BaseException) -> str | None:
    # Only once urllib3's streams (and with them http.client) are in use can these have been raised.
    if isinstance(exc, loaded("modelpack.store.response_headers", "HeadersTooLarge")):
        return str(getattr(exc, "what", exc))
    http_client = sys.modules.get("http.client")
    if http_client is None:
        return None
    if isinstance(exc, http_client.LineTooLong) and "header" in str(exc):
        # http.client's limits: module constants it does not export; its own values where it lacks them
        return f"a response header line over {getattr(http_client, '_MAXLINE', 65536) // 1024} KiB"
    if isinstance(exc, http_client.HTTPException) and "more than" in str(exc) and "headers" in str(exc):
        return f"more than {getattr(http_client, '_MAXHEADERS', 100)} response headers"
    return None
