"""Versions are ordered and filtered by when `created` says they were made, not by its text: a time with an
offset (2026-12-07T10:00:00+05:00, 05:00 UTC) sorted after a later one in UTC (06:00Z), and a `created`
that is no time at all ("unknown", any artifact's claim) sorted as the newest, so `ls` listed it first and
the web UI's home page showed it as the repository's latest version."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from helpers import modelpack
from registry_process import Registry
from ui_support import Pages, push_version

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CREATED = {"east": "2026-12-07T10:00:00+05:00", "utc": "2026-12-07T06:00:00Z", "bogus": "unknown",
           "old": "2026-12-07T04:00:00Z"}


def tagged(registry: Registry, tmp_path: Path) -> str:
    """A repository whose tags are one model re-tagged with each CREATED value (as another tool wrote them)."""
    repo = f"{registry.host}/team/times"
    digest = push_version(tmp_path / "m", f"{repo}:base", {"version": "base"})
    http = registry.session()
    manifest = http.get(f"{registry.url}/v2/team/times/manifests/{digest}", headers={"Accept": MANIFEST}).json()
    http.delete(f"{registry.url}/v2/team/times/manifests/{digest}").raise_for_status()
    for tag, created in CREATED.items():
        manifest["annotations"].update({"org.opencontainers.image.created": created,
                                        "org.opencontainers.image.version": tag})
        put = http.put(f"{registry.url}/v2/team/times/manifests/{tag}", data=json.dumps(manifest),
                       headers={"Content-Type": MANIFEST})
        assert put.status_code == 201, put.text
    return repo


def test_ls_orders_and_filters_by_the_instant_created_names(registry: Registry, tmp_path: Path) -> None:
    repo = tagged(registry, tmp_path)
    run = modelpack("ls", "--plain-http", "--json", repo)
    assert run.code == 0, run.err
    assert [v["tag"] for v in json.loads(run.out)] == ["utc", "east", "old", "bogus"]  # no time: last
    run = modelpack("ls", "--plain-http", "--json", "--sort", "created", repo)
    assert [v["tag"] for v in json.loads(run.out)] == ["old", "east", "utc", "bogus"]
    run = modelpack("ls", "--plain-http", "--json", "--where", "created>=2026-12-07T05:30:00Z", repo)
    assert [v["tag"] for v in json.loads(run.out)] == ["utc"]


def test_the_home_page_latest_version_is_the_newest_instant(registry: Registry, ui: Callable[..., str],
                                                             tmp_path: Path) -> None:
    repo = tagged(registry, tmp_path)
    page = Pages(ui([repo])).get("/")
    assert '">utc</a>' in page and '">bogus</a>' not in page
