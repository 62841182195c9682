"""A model's README doc layer, rendered safely: Markdown with raw HTML off (markdown-it escapes it, and
refuses `javascript:`, `vbscript:`, `file:` and `data:` links), images off (a page shows nothing
fetched from elsewhere), size capped. The artifact wrote it: it is never trusted as HTML."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from markupsafe import Markup, escape

from modelpack.errors import ModelpackError
from modelpack.model_info import FileInfo, ModelInfo
from modelpack.oci.descriptor import Descriptor
from modelpack.store.target import BlobReader, read_small

MAX_README = 512 * 1024
_NAMES = ("readme.md", "readme.markdown", "readme", "readme.txt", "readme.rst", "model_card.md", "modelcard.md")


@dataclass
class Readme:
    path: str
    html: Markup | None = None
    note: str | None = None  # why it is not shown


def find_readme(info: ModelInfo) -> FileInfo | None:
    """The README among the model's files: a raw doc layer named README (any case), top level first."""
    candidates = [f for f in info.files if f.path and PurePosixPath(f.path).name.lower() in _NAMES]
    candidates.sort(key=lambda f: (f.kind != "doc", (f.path or "").count("/"), _NAMES.index(
        PurePosixPath(f.path or "").name.lower())))
    return candidates[0] if candidates else None


def read_readme(repo: BlobReader, info: ModelInfo) -> Readme | None:
    """The README rendered, or why it cannot be shown; None when the model has none."""
    found = find_readme(info)
    if found is None or found.path is None:
        return None
    if ".tar" in found.media_type:
        return Readme(found.path, note="packed in a tar layer: pull the model to read it")
    if found.size > MAX_README:
        return Readme(found.path, note=f"{found.size} bytes, over the {MAX_README} byte limit shown here")
    try:
        text = read_small(repo, Descriptor(mediaType=found.media_type, digest=found.digest, size=found.size),
                          MAX_README).decode("utf-8", errors="replace")
    except ModelpackError as exc:
        return Readme(found.path, note=str(exc))
    return Readme(found.path, render(text, found.path))


def render(text: str, path: str) -> Markup:
    """Markdown as HTML with every raw HTML tag escaped; any other file as preformatted text."""
    if not path.lower().endswith((".md", ".markdown")):
        return Markup("<pre>") + escape(text) + Markup("</pre>")
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").disable("image")
    return Markup(md.render(text))  # html off: markdown-it escaped every tag the text held
