"""An unknown report format fell back to HTML: the UI's `/report/...?format=markdown` answered a page, and
`report -o report.pdf` wrote HTML under that name. Both are refused, naming the formats (HTTP 400; exit 2);
`--format` was already a choice. Against the real registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from helpers import modelpack
from registry_process import Registry
from ui_support import Pages, push_version


def test_the_ui_refuses_an_unknown_format(registry: Registry, ui: Callable[..., str], tmp_path: Path) -> None:
    repo = registry.repo("fmt")
    digest = push_version(tmp_path / "m", f"{repo}:1", {"name": "m", "version": "1"})
    pages = Pages(ui([registry.host]))
    path = f"/report/{repo}@{digest}"
    refused = pages.get(path, 400, format="markdown")
    assert "?format=markdown: the report is written in html, md, json" in refused
    facts = pages.http.get(f"{pages.base}{path}", params={"format": "json"}, timeout=60)
    assert facts.status_code == 200 and facts.headers["content-type"].startswith("application/json")
    assert json.loads(facts.text)["digest"] == digest
    markdown = pages.http.get(f"{pages.base}{path}", params={"format": "md"}, timeout=60)
    assert markdown.status_code == 200 and markdown.text.startswith("# Technical documentation: m 1")
    assert pages.get(path).startswith("<!DOCTYPE html>")


def test_the_cli_refuses_an_output_suffix_naming_no_format(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo("fmtcli") + ":1"
    push_version(tmp_path / "m", ref, {"name": "m"})
    refused = modelpack("report", "--plain-http", "-o", str(tmp_path / "report.pdf"), ref)
    assert refused.code == 2 and "names no format the report is written in (html, md, json)" in refused.err
    assert len(refused.err.strip().splitlines()) == 1 and not (tmp_path / "report.pdf").exists()
    unknown = modelpack("report", "--plain-http", "--format", "pdf", ref)
    assert unknown.code == 2 and "'html', 'md', 'json'" in unknown.err
    # A folder with a dot in its name is no suffix; an explicit --format takes any file name.
    (tmp_path / "out.d").mkdir()
    assert modelpack("report", "--plain-http", "-o", str(tmp_path / "out.d" / "report"), ref).code == 0
    assert (tmp_path / "out.d" / "report").read_text().startswith("<!DOCTYPE html>")
    assert modelpack("report", "--plain-http", "--format", "md", "-o", str(tmp_path / "r.txt"), ref).code == 0
    assert (tmp_path / "r.txt").read_text().startswith("# Technical documentation")
