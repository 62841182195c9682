"""The web UI's listings cut a registry's long values as `ls` does: a 100 KB version filled the home page's and
the repository page's tables whole (twice over: the cell and the chart's point), a 3,000-character metric
name the column header and the chart's caption. The version's own page still shows the value. Against the
real registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from registry_process import Registry
from ui_support import Pages, push_version

LONG = "1." + "x" * 100_000
METRIC = "m" * 3_000


def test_listings_cut_a_long_version_and_metric_name(registry: Registry, ui: Callable[..., str],
                                                     tmp_path: Path) -> None:
    repo = registry.repo("long-ui")
    digest = push_version(tmp_path / "m", f"{repo}:1", {"name": "m", "version": LONG, "metrics": {METRIC: 0.5}})
    pages = Pages(ui([repo]))
    home, listing = pages.get("/"), pages.get(f"/r/{repo}")
    for page in (home, listing):
        assert "x" * 1_000 not in page and "…(+" in page, page[-3000:]
    assert len(home) < 20_000 and len(listing) < 30_000, (len(home), len(listing))
    assert listing.count(METRIC) == 1  # in the header's sort link alone (its label and the chart's caption: cut)
    assert LONG in pages.get(f"/v/{repo}@{digest}")  # the version's own page: whole
