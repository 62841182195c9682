"""A model's README on its version page, rendered safely: Markdown with raw HTML off (markdown-it escapes
it, and refuses `javascript:`, `vbscript:`, `file:` and `data:` links), images off (a page shows nothing
fetched from elsewhere), size capped, control and bidi characters shown as escapes (as every other value
on the pages, and the report's README). The artifact wrote it: it is never trusted as HTML."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from modelpack.cli.escape import clean
from modelpack.model_info import ModelInfo
from modelpack.readme_layer import read_readme
from modelpack.store.target import BlobReader

MAX_README = 512 * 1024


@dataclass
class Readme:
    path: str
    html: Markup | None = None
    note: str | None = None  # why it is not shown


def readme(repo: BlobReader, info: ModelInfo) -> Readme | None:
    """The README rendered, or why it cannot be shown; None when the model has none."""
    found = read_readme(repo, info, MAX_README)
    if found is None:
        return None
    if found.text is None:
        return Readme(found.path, note=found.problem)
    return Readme(found.path, render(found.text, found.path))


def render(text: str, path: str) -> Markup:
    """Markdown as HTML with every raw HTML tag escaped; any other file as preformatted text."""
    # Markup bypasses the pages' own escaping (`app._visible`): a bidi override would reverse what follows.
    text = clean(text, keep="\n\r\t")
    if not path.lower().endswith((".md", ".markdown")):
        return Markup("<pre>") + escape(text) + Markup("</pre>")
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").disable("image")
    # html off: markdown-it escaped every tag the text held. It does decode character references, and
    # `&#x202e;` became the bidi override itself: the output is cleaned too (tags and text, both safe).
    return Markup(clean(md.render(text), keep="\n\r\t"))
