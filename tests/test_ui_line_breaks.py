"""A metadata value holding a line break shows on the version's page as the listings and the terminal show
it, `1.0\\n2`: the page showed "1.0 2" (a browser folds the raw newline into a space), so a version read as
another one. Against the real registry."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from registry_process import Registry
from ui_support import Pages, push_version, scan


class _Definitions(HTMLParser):
    """The (term, definition) texts of a page's <dl>, as a browser shows them (white space folded)."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self._tag: str | None = None
        self._term = ""
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("dt", "dd"):
            self._tag, self._text = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag == self._tag:
            text = " ".join("".join(self._text).split())
            if tag == "dt":
                self._term = text
            else:
                self.pairs.append((self._term, text))
            self._tag = None

    def handle_data(self, data: str) -> None:
        if self._tag is not None:
            self._text.append(data)


def test_version_page_escapes_a_line_break_as_the_listing_does(registry: Registry, ui: Callable[..., str],
                                                               tmp_path: Path) -> None:
    repo = registry.repo("line-break-ui")
    push_version(tmp_path / "a", f"{repo}:1", {"name": "m", "version": "1.0"})
    digest = push_version(tmp_path / "b", f"{repo}:2", {"name": "m", "version": "1.0\n2",
                                                        "description": "one\ntwo"})
    pages = Pages(ui([repo]))
    listing = scan(pages.get(f"/r/{repo}"))
    assert any("1.0\\n2" in row for row in listing.rows), listing.rows
    page = pages.get(f"/v/{repo}@{digest}", against="1")
    shown = _Definitions()
    shown.feed(page)
    fields = dict(shown.pairs)
    assert fields["version"] == "1.0\\n2", shown.pairs  # as the listing and `inspect` show it
    assert fields["description"] == "one\\ntwo", shown.pairs
    changed = [row for row in scan(page).rows if row[:2] == ["metadata", "version"]]
    assert changed == [["metadata", "version", "1.0", "1.0\\n2"]], scan(page).rows  # the diff: the same words
