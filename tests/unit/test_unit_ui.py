"""The UI's pure parts: chart geometry, README rendering, the page cache, and templates shipped in the wheel."""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

import pytest

from modelpack.ui.charts import chart
from modelpack.ui.readme import render
from modelpack.ui.snapshot import DigestCache

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_a_chart_spans_its_plot_from_lowest_to_highest() -> None:
    drawn = chart("accuracy", [("1", 0.8), ("2", None), ("3", 0.9), ("4", 0.85)])
    x, y, width, height = drawn.plot
    assert [p.label for p in drawn.points] == ["1", "3", "4"]  # a version without the metric is skipped
    assert (drawn.low, drawn.high) == (0.8, 0.9)
    assert drawn.points[0].x == x and drawn.points[-1].x == x + width
    assert drawn.points[0].y == y + height and drawn.points[1].y == y  # lowest at the bottom, highest on top
    assert drawn.line.count(",") == 3


@pytest.mark.parametrize("values", [[0.5], [0.5, 0.5, 0.5]])
def test_a_flat_chart_is_drawn_mid_height(values: list[float]) -> None:
    drawn = chart("loss", [(str(i), v) for i, v in enumerate(values)])
    _, y, _, height = drawn.plot
    assert {p.y for p in drawn.points} == {y + height / 2}


def test_no_values_no_points() -> None:
    assert chart("f1", [("1", None)]).points == []


def test_readme_markdown_keeps_no_raw_html_and_no_script_links() -> None:
    html = render('# T\n\n<script>x()</script>\n\n<a href="javascript:y()">a</a> [b](javascript:z()) '
                  "![i](https://example.com/p.png)\n\n| a |\n|---|\n| 1 |\n", "README.md")
    assert "<h1>T</h1>" in html and "<table>" in html
    assert "<script" not in html and "<a href=\"javascript" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert render("<b>plain</b>", "README.txt") == "<pre>&lt;b&gt;plain&lt;/b&gt;</pre>"


def test_the_cache_drops_the_least_recently_used_past_its_budget() -> None:
    cache = DigestCache(budget=10)
    cache.put("a", None, b"1234")
    cache.put("b", None, b"1234")
    assert cache.get("a") is not None  # now the most recently used
    cache.put("c", None, b"1234")
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    cache.put("huge", None, b"x" * 11)
    assert cache.get("huge") is None


def test_every_template_ships_in_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["modelpack"]
    package = ROOT / "src" / "modelpack"
    files = [str(p.relative_to(package)) for p in (package / "ui" / "templates").iterdir()]
    assert files
    assert all(any(fnmatch.fnmatch(name, pattern) for pattern in globs) for name in files), (files, globs)
