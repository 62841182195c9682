"""Response headers (and a chunked body's trailer) read by http.client (urllib3: blob streams, token requests)
under libcurl's limits.

http.client refuses a response of more than 100 headers (`_MAXHEADERS`, a module global), which a CDN or an
object store behind a registry's redirect may well send, while the curl engine (metadata requests) takes
5,000. Setting the global would change every http.client user in the process; instead `LimitedResponse`
runs http.client's own `begin()` and `parse_headers()` with the module's names, but for the header reader,
which is this file's: at most 5,000 headers, 100 KiB a line and 300 KiB in all (libcurl's three limits), so
what one response may hold in memory stays bounded as it was (100 lines of 64 KiB).
"""

from __future__ import annotations

import http.client
import types
from collections.abc import Callable
from typing import Any, BinaryIO

MAX_HEADERS = 5000  # libcurl's count (lib/http.c MAX_HTTP_RESP_HEADER_COUNT)
MAX_LINE = 100 * 1024  # CURL_MAX_HTTP_HEADER
MAX_TOTAL = 300 * 1024  # libcurl's MAX_HTTP_RESP_HEADER_SIZE


class HeadersTooLarge(http.client.HTTPException):
    """Response headers past one of the limits; `what` says which, as the error line shows it."""

    def __init__(self, what: str) -> None:
        super().__init__(f"got {what}")
        self.what = what


def read_headers(fp: BinaryIO) -> list[bytes]:
    """The header lines of a response up to and including the empty one, under libcurl's limits.

    Args:
        fp: the response's buffered socket file, just past the status line.

    Returns:
        The lines read, each with its line ending (the last one empty, or b"" at end of stream).

    Raises:
        HeadersTooLarge: a line, the count or the total went past its limit (nothing more is read).
    """
    lines: list[bytes] = []
    total = 0
    while True:
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HeadersTooLarge(f"a response header line over {MAX_LINE // 1024} KiB")
        total += len(line)
        if total > MAX_TOTAL:
            raise HeadersTooLarge(f"response headers over {MAX_TOTAL // 1024} KiB")
        lines.append(line)
        if line in (b"\r\n", b"\n", b""):
            return lines
        if len(lines) > MAX_HEADERS:
            raise HeadersTooLarge(f"more than {MAX_HEADERS} response headers")


def _rebound(function: Callable[..., Any], names: dict[str, Any]) -> Callable[..., Any]:
    """`function`'s own code, looking its global names up in `names` instead of its module."""
    return types.FunctionType(function.__code__, names, function.__name__, function.__defaults__,
                              function.__closure__)


# http.client's namespace with this reader in place of its own: begin() reads the headers of a 100 Continue
# and of the response through `_read_headers` and `parse_headers`, looked up among its globals
_NAMES: dict[str, Any] = dict(vars(http.client), _read_headers=read_headers)
_NAMES["parse_headers"] = _rebound(http.client.parse_headers, _NAMES)


class LimitedResponse(http.client.HTTPResponse):
    """http.client's response whose headers are read under libcurl's limits (this module's docstring)."""

    begin = _rebound(http.client.HTTPResponse.begin, _NAMES)

    def _read_and_discard_trailer(self) -> None:
        """The trailer after a chunked body's last chunk, under the same limits: http.client reads its
        lines without counting them, so a registry sending them for ever kept a blob's pull going for ever
        (bytes flow, so no stall fires, and a transfer has no deadline once its headers are in)."""
        read_headers(self.fp)
