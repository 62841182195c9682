"""A dataset text becomes an ML-BOM reference only when it is an http(s) IRI: the rest stays a name, so a
model's metadata cannot make the document invalid (the validator's own IRI check is not installed)."""

from __future__ import annotations

import pytest

pytest.importorskip("cyclonedx")

from modelpack.mlbom import _links


@pytest.mark.parametrize("text", ["https://example.com/data/extra.csv", "http://host:8080/a?b=c#d",
                                  "https://example.com/%C3%A9t%C3%A9", "https://例え.jp/データ"])
def test_an_iri_is_a_reference(text: str) -> None:
    assert [str(ref.url) for ref in _links(text)] == [text]


@pytest.mark.parametrize("text", ["https://example.com/a b", 'https://example.com/"x"', "https://example.com/<x>",
                                  "https://example.com/50%", "https://example.com/a#b#c", "https:///no-host",
                                  "https://example.com/\u202eevil", "ftp://example.com/x", "iris"])
def test_anything_else_stays_a_name(text: str) -> None:
    assert _links(text) == []
