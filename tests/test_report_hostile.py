"""`report` on content a registry controls: parent links that loop or go on and on, annotations written to
break a page (markup, bidi overrides), a README layer that is too large. The report is still written,
everything escaped, and the section says what was left out."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests
from markdown_it import MarkdownIt

from helpers import modelpack
from hostile_registry import HostileRegistry, crafted_model, raw_layer
from modelpack.report.lineage import MAX_STEPS
from test_hostile_content import chain_of, serve

NAME = "io.modelpack.model.name"
DESCRIPTION = "org.opencontainers.image.description"


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    with HostileRegistry() as server:
        yield server


def report(host: str, fmt: str = "html", tag: str = "m0") -> str:
    result = modelpack("report", "--plain-http", "--format", fmt, f"{host}/a/b:{tag}", timeout=300)
    assert result.code == 0, result.err
    return result.out


def test_a_parent_loop_is_walked_once_and_noted(hostile: HostileRegistry) -> None:
    serve(hostile, chain_of(hostile.host, 3, last_parent=f"{hostile.host}/a/b:m0"))
    page = report(hostile.host)
    assert page.count("<h3>Ancestor") == 2  # m1 and m2, then m0 again is not shown
    assert "the chain loops back to" in page
    # Each parent read once, and m0 (read first, then named again as m2's parent) not walked a second time.
    assert hostile.requests("/manifests/m1") == ["GET /v2/a/b/manifests/m1"]
    assert len(hostile.requests("/manifests/m0")) <= 2


def test_a_long_chain_is_cut_at_the_cap(hostile: HostileRegistry) -> None:
    serve(hostile, chain_of(hostile.host, MAX_STEPS + 10))
    page = report(hostile.host, "md")
    assert page.count("### Ancestor") == MAX_STEPS - 1
    assert f"only the first {MAX_STEPS} models of the chain are shown" in page


def test_hostile_annotations_are_escaped_in_both_formats(hostile: HostileRegistry) -> None:
    name = 'm<img src=x onerror="alert(1)">\u202eevil'
    readme, entry = raw_layer("README.md", b"x" * 300_000)
    readme["mediaType"] = "application/vnd.cncf.model.doc.v1.raw"
    content = crafted_model(annotations={NAME: name, DESCRIPTION: "1. [click](javascript:alert(1)) <script>x</script>"},
                            layers=[readme], tags=("m0",))
    content.update([entry])
    serve(hostile, content)
    page = report(hostile.host)
    assert "<img" not in page and "<script>x" not in page and "\u202e" not in page
    assert "m&lt;img src=x onerror=&#34;alert(1)&#34;&gt;\\u202eevil" in page
    assert "README.md is 300000 bytes, over" in page  # noted, not fetched
    text = report(hostile.host, "md")
    assert "<img" not in text and "<script>" not in text and "\u202e" not in text
    assert "\\[click\\]\\(javascript:alert\\(1\\)\\)" in text
    # As a CommonMark renderer (raw HTML allowed) shows it: no tag, no link of the registry's making.
    shown = MarkdownIt("commonmark").enable("table").render(text)
    assert "<img" not in shown and "<script" not in shown and "javascript:" not in shown.replace(
        "[click](javascript:alert(1))", "")
    assert "<h2>Lineage</h2>" in shown and "<table>" in shown and "<ol>" not in shown  # "1." stays text


def test_the_ui_says_where_a_chain_cut_at_its_depth_goes_on(hostile: HostileRegistry,
                                                            ui: Callable[..., str]) -> None:
    from modelpack.lineage_chain import MAX_DEPTH
    from modelpack.oci import digest as digests

    content = chain_of(hostile.host, MAX_DEPTH + 3)
    serve(hostile, content)
    start = digests.of_bytes(content["m0"][1])
    page = requests.get(f"{ui([hostile.host])}/v/{hostile.host}/a/b@{start}", timeout=120).text
    assert f"only the first {MAX_DEPTH} models of the chain are shown; it goes on at {hostile.host}/a/b:m{MAX_DEPTH}" \
        in page
    assert "(first ancestor)" not in page
