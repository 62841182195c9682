"""Errors a library caller catches: typed (the standard classes they extend included), and naming the
Python setting that helps, not only the CLI's flag."""

from __future__ import annotations

import pytest

import modelpack as mp
from registry_process import Registry


def test_https_to_a_plain_http_registry_is_a_connection_error_naming_plain_http(registry: Registry) -> None:
    options = mp.ClientOptions(plain_http=False, retries=0)
    with options, pytest.raises(ConnectionError) as caught:
        mp.resolve(registry.repo() + ":1", options=options)
    assert isinstance(caught.value, mp.ModelpackError)
    assert "ClientOptions(plain_http=True)" in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1.0, float("inf")])
def test_a_client_refuses_a_timeout_that_cannot_bound_a_request(timeout: float) -> None:
    # It was taken as given: 0 or less timed every request out at once, inf killed the transfer thread
    # (a traceback on stderr) and was reported as "cannot connect".
    with pytest.raises(ValueError, match="timeout"):
        mp.Client(plain_http=True, timeout=timeout)
    with pytest.raises(ValueError, match="already holds"):
        mp.Client(options=mp.ClientOptions(), timeout=0)


def test_a_failure_of_the_transfer_thread_is_logged_not_printed(
        registry: Registry, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    # A timeout set after the options were checked, too big for libcurl: the thread sending requests fails.
    options = mp.ClientOptions(plain_http=True, retries=0)
    options.timeout = float("inf")
    with options, pytest.raises(mp.ModelpackError):
        mp.resolve(registry.repo() + ":1", options=options)
    assert "Traceback" not in capsys.readouterr().err
    assert any("transfer engine failed" in record.getMessage() for record in caplog.records)
