"""For the `modelpack ui` tests (the registry with basic auth and the UI itself are fixtures in conftest.py):
versions pushed with metrics and parents, and pages fetched and read as a browser reads them."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requests
import yaml

WEIGHTS = os.urandom(4096)  # one weights blob for every version: only the manifests differ


def push_version(folder: Path, ref: str, metadata: dict[str, Any], readme: str = "# A model\n") -> str:
    """Push a small model with `metadata` (modelpack.yaml's fields) as `ref`; its digest."""
    import modelpack as mp
    from modelpack.store.options import ClientOptions

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(WEIGHTS)
    (folder / "README.md").write_text(readme, encoding="utf-8")
    (folder / "modelpack.yaml").write_text(yaml.safe_dump(metadata), encoding="utf-8")
    return mp.push(folder, ref, options=ClientOptions(plain_http=True)).descriptor.digest


class Pages:
    """Fetches pages and keeps every body, so a test can check them all at the end (credentials)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False
        self.seen: list[str] = []

    def get(self, path: str, status: int = 200, **params: Any) -> str:
        resp = self.http.get(self.base + path, params=params or None, timeout=60)
        self.seen.append(resp.text)
        assert resp.status_code == status, (path, resp.status_code, resp.text[-2000:])
        assert resp.headers["Content-Type"].startswith("text/html")
        return resp.text


class _Scan(HTMLParser):
    """Links (href, text) and table rows (cell texts) of a page, as a browser would read them."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.rows: list[list[str]] = []
        self._href: str | None = None
        self._text: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def scan(page: str) -> _Scan:
    parser = _Scan()
    parser.feed(page)
    return parser


def links(page: str, prefix: str) -> list[tuple[str, str]]:
    """(href, text) of the links whose target starts with `prefix`."""
    return [(href, text) for href, text in scan(page).links if href.startswith(prefix)]
