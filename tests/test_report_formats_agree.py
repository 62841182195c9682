"""The two formats of `report` document the same facts: the Identity section's rows are the same in
Markdown and HTML, including who wrote the artifact (modelpack, or another tool). Real registry."""

from __future__ import annotations

import html
import re
from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end)]


def test_identity_rows_agree_between_markdown_and_html(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"w" * 1000)
    ref = registry.repo("formats") + ":1.0"
    mp.push(model, ref, ["version=1.0", "authors=Ada", "licenses=MIT"], options=PLAIN)
    md = modelpack("report", "--plain-http", "--format", "md", ref)
    page = modelpack("report", "--plain-http", "--format", "html", ref)
    assert md.code == 0 and page.code == 0, md.err + page.err
    md_rows = dict(re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|$", _section(md.out, "## Identity", "## Description"),
                              re.M))
    html_rows = {html.unescape(k): html.unescape(v) for k, v in re.findall(
        r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", _section(page.out, 'id="identity"', 'id="description"'))}
    md_rows.pop("Field", None)  # the Markdown table's header
    # Markdown's escapes (`\(` in "Provider \(vendor\)") are its own: the text read is the same.
    md_rows = {re.sub(r"\\(.)", r"\1", k): re.sub(r"\\(.)", r"\1", v) for k, v in md_rows.items()}
    assert md_rows == html_rows
    # `inspect` calls it "Written by"; the report said "Format" (next to "Weight format") in HTML only.
    assert md_rows["Written by"] == "modelpack"
