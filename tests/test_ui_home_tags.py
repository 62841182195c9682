"""The home page reads at most `MAX_TAGS` of a repository's tags, as a repository's page does: its summary
of each listed repository asked for every tag (a HEAD each), so a registry listing 100,000 tags made one
view of the home page cost 100,000 requests per repository."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fault_proxy import FaultProxy
from registry_process import Registry
from ui_support import Pages, push_version

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def test_the_home_page_reads_at_most_max_tags_of_a_repository(fresh_registry: Callable[..., Registry],
                                                                ui: Callable[..., str], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from modelpack.ui import browse

    monkeypatch.setattr(browse, "MAX_TAGS", 3)
    # A registry of its own: the home page summarises every repository of the catalog, and the session's
    # registry holds those of every test run before this one (hundreds in a full run: past the page's time).
    registry = fresh_registry()
    repo = f"{registry.host}/team/tagged"
    digest = push_version(tmp_path / "m", f"{repo}:v0", {"version": "1"})
    http = registry.session()
    manifest = http.get(f"{registry.url}/v2/team/tagged/manifests/{digest}", headers={"Accept": MANIFEST})
    for i in range(1, 7):  # seven tags of one version
        put = http.put(f"{registry.url}/v2/team/tagged/manifests/v{i}", data=manifest.content,
                       headers={"Content-Type": MANIFEST})
        assert put.status_code == 201, put.text
    with FaultProxy(registry.host) as proxy:
        page = Pages(ui([f"{proxy.host}"])).get("/")
        heads = proxy.requests("HEAD")
    assert len(heads) == 3, heads  # the first three tags, not seven
    assert f"/r/{proxy.host}/team/tagged" in page
    assert '<td class="num">1<span title="counted in the first tags the registry lists only">+</span></td>' in page
