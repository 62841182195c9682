"""`modelpack ui`: a version's URL typed with a tag (`/v/HOST/REPO:TAG`, as a reviewer writes it) leads to
the version's page, pinned: a redirect to the digest the tag names now. What the URL or the registry chose
reaches neither the Location header nor the page raw. Against a real registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import requests

from registry_process import Registry
from ui_support import Pages, push_version


def test_a_tag_url_redirects_to_the_pinned_version(registry: Registry, ui: Callable[..., str],
                                                   tmp_path: Path) -> None:
    repo = f"{registry.host}/team/tagged"
    first = push_version(tmp_path / "a", f"{repo}:1.0", {"version": "1.0"})
    second = push_version(tmp_path / "b", f"{repo}:1.1", {"version": "1.1", "parent": f"{repo}:1.0"})
    pages = Pages(ui([registry.host]))

    def location(path: str, **params: str) -> str:
        resp = pages.http.get(pages.base + path, params=params or None, allow_redirects=False, timeout=60)
        assert resp.status_code == 302, (path, resp.status_code, resp.text[-500:])
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
        return str(resp.headers["Location"])

    assert location(f"/v/{repo}:1.1") == f"/v/{repo}@{second}"
    assert location(f"/v/{repo}:1.1", against="1.0 <x>") == f"/v/{repo}@{second}?against=1.0+%3Cx%3E"
    assert location(f"/report/{repo}:1.0") == f"/report/{repo}@{first}"
    assert location(f"/v/{repo}") == f"/r/{repo}"  # no tag: the repository's versions
    page = pages.get(f"/v/{repo}:1.1")  # followed, as a browser does
    assert second in page and f"/v/{repo}@{first}" in page  # the version, and its parent's link

    missing = pages.get(f"/v/{repo}:9.9", status=404)
    assert "not found" in missing and "Traceback" not in missing
    hostile = pages.get(f"/v/{repo}:<script>alert(1)</script>", status=404)
    assert "<script>" not in hostile and "&lt;script&gt;" in hostile
    assert "not one of the registries" in pages.get("/v/example.com/team/tagged:1.0", status=404)
    # A line break in the tag is no header of ours: refused as no tag, no redirect made.
    crlf = requests.get(f"{pages.base}/v/{repo}:1.0%0d%0aSet-Cookie:%20x=1", allow_redirects=False, timeout=60)
    assert crlf.status_code == 404 and "Set-Cookie" not in crlf.headers
