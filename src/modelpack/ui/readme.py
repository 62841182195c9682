"""A model's README on its version page, rendered safely: Markdown with raw HTML off (markdown-it escapes
it, and refuses `javascript:`, `vbscript:`, `file:` and `data:` links), images off (a page shows nothing
fetched from elsewhere), size capped, control and bidi characters shown as escapes (as every other value
on the pages, and the report's README). The artifact wrote it: it is never trusted as HTML.

Rendering costs CPU in proportion to the text, and more for some shapes: a hostile 512 KiB README of
tables or nested lists took 3.5-4.3 s (markdown-it-py, this machine) on every view of its page. So at
most `MAX_RENDERED` bytes of Markdown are rendered (the page says the rest was left out), and the HTML
is kept by the README's digest (its content never changes): a page viewed again renders nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from modelpack.cli.escape import clean
from modelpack.model_info import ModelInfo
from modelpack.readme_layer import find_readme, read_readme
from modelpack.store.target import BlobReader
from modelpack.ui.snapshot import DigestCache

MAX_README = 512 * 1024
# At most this much Markdown is rendered: ~0.5-1 s of CPU for the worst shapes measured, once per README.
MAX_RENDERED = 128 * 1024
# A model card's YAML front matter (Hugging Face's `license:`, `base_model:`, ...): `---` lines around it at the
# very start. Markdown has no such thing: it read as a rule and a heading of the keys run together.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)
# Rendered HTML by "<digest> <path>" (the path says Markdown or text), least recently viewed dropped.
_RENDERED = DigestCache(budget=8 * 1024 * 1024)


@dataclass
class Readme:
    path: str
    html: Markup | None = None
    note: str | None = None  # why it is not shown


def readme(repo: BlobReader, info: ModelInfo) -> Readme | None:
    """The README rendered (from the cache when it was before), or why it cannot be shown; None when the
    model has none."""
    listed = find_readme(info)
    key = f"{listed.digest} {listed.path}" if listed is not None and listed.path else None
    cached = _RENDERED.get(key) if key else None
    if cached is not None and listed is not None and listed.path:
        return Readme(listed.path, Markup(cached[1].decode()))
    found = read_readme(repo, info, MAX_README)
    if found is None:
        return None
    if found.text is None:
        return Readme(found.path, note=found.problem)
    html = render(found.text, found.path)
    if key:
        _RENDERED.put(key, None, str(html).encode())
    return Readme(found.path, html)


def render(text: str, path: str) -> Markup:
    """Markdown as HTML with every raw HTML tag escaped; any other file as preformatted text."""
    # Markup bypasses the pages' own escaping (`app._visible`): a bidi override would reverse what follows.
    size = len(text.encode())
    text = clean(text, keep="\n\r\t")
    if not path.lower().endswith((".md", ".markdown")):
        return Markup("<pre>") + escape(text) + Markup("</pre>")
    from markdown_it import MarkdownIt

    encoded = text.encode()
    shown = text if len(encoded) <= MAX_RENDERED else encoded[:MAX_RENDERED].decode(errors="ignore")
    front = _FRONT_MATTER.match(shown)
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").disable("image")
    # html off: markdown-it escaped every tag the text held. It does decode character references, and
    # `&#x202e;` became the bidi override itself: the output is cleaned too (tags and text, both safe).
    html = Markup(clean(md.render(shown[front.end():] if front else shown), keep="\n\r\t"))
    if front:  # shown as it is written: the card's metadata, not Markdown
        html = Markup('<pre class="front-matter">') + escape(front.group(1)) + Markup("</pre>") + html
    if shown is not text:
        html += Markup('<p class="note">') + escape(
            f"{clean(path)} is {size} bytes: only its first {MAX_RENDERED // 1024} KiB are shown; pull the model to "
            "read the rest") + Markup("</p>")
    return html
