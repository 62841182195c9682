"""canonical_host: one spelling per host, as the resolver reads an address; names in lower case."""

from __future__ import annotations

import pytest

from modelpack.oci.hosts import canonical_host, split_port


@pytest.mark.parametrize(("written", "compared"), [
    ("127.1", "127.0.0.1"), ("2130706433:5000", "127.0.0.1:5000"), ("0x7f.0.0.1", "127.0.0.1"),
    ("0177.0.0.1:05000", "127.0.0.1:5000"), ("[::ffff:127.0.0.1]:80", "127.0.0.1:80"), ("[0:0::1]", "[::1]"),
    ("[127.0.0.1]", "127.0.0.1"), ("Registry.Example.com:5000", "registry.example.com:5000"),
    # Digits that are no address stay names; a name that starts with a digit is no address.
    ("999.1", "999.1"), ("256.1", "256.1"), ("1e100.net", "1e100.net"), ("localhost", "localhost"),
])
def test_one_spelling_per_host(written: str, compared: str) -> None:
    assert canonical_host(written) == compared


def test_split_port_keeps_an_ipv6_address_whole() -> None:
    assert split_port("[::1]:5000") == ("[::1]", "5000")
    assert split_port("[::1]") == ("[::1]", "")
    assert split_port("example.com") == ("example.com", "")
