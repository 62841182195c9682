"""A registry that goes away mid-pull (killed, restarted) refuses the next connection of a blob stream at
once; that was said as `cannot connect to HOST: no answer within 10 s`, 1 s into the pull: urllib3 files
its NewConnectionError ("Connection refused") under ConnectTimeoutError, and the connect-timeout check took
the class for the cause. A refusal is now said as one, as the first request's is."""

from __future__ import annotations

import socket
import sys
import threading

import pytest
import urllib3

from modelpack.errors import TransportError
from modelpack.store.backoff import Backoff
from modelpack.store.options import ClientOptions
from modelpack.store.watch import Watch
from modelpack.store.wire_errors import connect_timed_out


def _refused() -> urllib3.exceptions.NewConnectionError:
    """urllib3's own error for a port nothing listens on (bound, then closed: refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(urllib3.exceptions.NewConnectionError) as info:
        urllib3.connection.HTTPConnection("127.0.0.1", port, timeout=10).connect()
    return info.value


def test_a_refused_connection_is_said_as_refused_not_as_a_timeout() -> None:
    refused = _refused()
    assert not connect_timed_out(refused)
    url = "http://127.0.0.1:9/v2/team/model/blobs/sha256:" + "0" * 64
    backoff = Backoff("127.0.0.1:9", ClientOptions(plain_http=True), threading.Event())
    with pytest.raises(TransportError) as info:  # no retry left: the error that ends the pull
        backoff.after_failure("GET", url, refused, Watch(30.0), attempt=1, retries=0, deadline=None, refusal=None)
    assert "refused" in str(info.value) and "no answer within" not in str(info.value), str(info.value)


def test_a_connect_timeout_is_still_one() -> None:
    assert connect_timed_out(urllib3.exceptions.ConnectTimeoutError(None, "timed out"))


def test_a_module_still_being_imported_contributes_no_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another thread importing urllib3 puts `urllib3.exceptions` in sys.modules before its classes: the
    check of a failure meanwhile was an AttributeError (`internal error`, exit 70, in a pull's retry)."""
    import types

    from modelpack.store.wire_errors import loaded

    partial = types.ModuleType("urllib3_partially_imported_n40")
    partial.HTTPError = urllib3.exceptions.HTTPError  # type: ignore[attr-defined]  # defined so far
    monkeypatch.setitem(sys.modules, partial.__name__, partial)
    assert loaded(partial.__name__, "HTTPError", "NewConnectionError") == (urllib3.exceptions.HTTPError,)
