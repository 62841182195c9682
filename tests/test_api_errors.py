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
