"""The exceptions a failed exchange on urllib3's streams raises, named without importing urllib3.

Most commands send every request through the curl engine (`curl_engine`): urllib3 carries blob streams and
token requests only (`transport`, which imports it on its first request), and importing it, with
http.client, ssl and email, costs ~35 ms of CPU: a fifth of a small pull. So the `except` clauses and
checks that must also catch urllib3's and http.client's failures ask here while a failure is being
handled. An exception of a module that nothing has imported cannot have been raised, so a module not
imported yet contributes no class (`except ()` catches nothing).
"""

from __future__ import annotations

import sys

from modelpack.store.curl_engine import CurlFailure


def loaded(module: str, *names: str) -> tuple[type[Exception], ...]:
    """The exception classes `names` of `module`, or none while `module` has not been imported.

    Args:
        module: a module's full name, e.g. "urllib3.exceptions".
        names: classes defined there.

    Returns:
        The classes, ready for `except` or `isinstance`.
    """
    found = sys.modules.get(module)
    # A module another thread is importing is in sys.modules before its classes are: one not defined yet
    # cannot have been raised either (it was an AttributeError, `internal error`, in a pull's retry).
    return tuple(cls for name in names if (cls := getattr(found, name, None)) is not None)


def wire_errors(*more: type[Exception]) -> tuple[type[Exception], ...]:
    """What a broken or stalled exchange raises: urllib3's and http.client's errors, and OSError; with
    `more`, those too (one tuple for one `except`)."""
    return (*loaded("urllib3.exceptions", "HTTPError"), *loaded("http.client", "HTTPException"), OSError, *more)


def tls_errors() -> tuple[type[Exception], ...]:
    """urllib3's TLS failure (a certificate not trusted, a handshake refused)."""
    return loaded("urllib3.exceptions", "SSLError")


def unusable_url_errors(*more: type[Exception]) -> tuple[type[Exception], ...]:
    """urllib3's refusal of a URL it cannot send (a redirect's Location naming no host), and `more`."""
    return (*loaded("urllib3.exceptions", "LocationValueError"), *more)


def is_cut(exc: BaseException) -> bool:
    """Whether urllib3 reports the connection broken mid-exchange."""
    return isinstance(exc, loaded("urllib3.exceptions", "ProtocolError"))


def timed_out(exc: BaseException) -> bool:
    """Whether a failure is a timeout (urllib3 files "connection refused" under connect timeouts)."""
    if isinstance(exc, loaded("urllib3.exceptions", "NewConnectionError")):
        return False
    if isinstance(exc, CurlFailure):
        return exc.timed_out
    return isinstance(exc, (*loaded("urllib3.exceptions", "ReadTimeoutError", "ConnectTimeoutError"), TimeoutError))


def connect_timed_out(exc: BaseException) -> bool:
    """Whether a failure is a connect timeout: the host never answered (not a slow answer)."""
    if isinstance(exc, CurlFailure):
        return exc.connect_timed_out
    if isinstance(exc, loaded("urllib3.exceptions", "NewConnectionError")):
        return False  # a subclass of ConnectTimeoutError, yet "connection refused": an answer, at once
    return isinstance(exc, loaded("urllib3.exceptions", "ConnectTimeoutError"))
