"""A model's README: the doc layer that is one (the shallowest, README.md before other names), read whole
when it is a raw file under a size cap. `report` puts it in a document and `ui` renders it on a page;
both treat its text as the artifact's, never as markup."""

from __future__ import annotations

from dataclasses import dataclass

from modelpack.errors import ModelpackError
from modelpack.model_info import FileInfo, ModelInfo
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor
from modelpack.store.target import BlobReader, read_small

README_NAMES = ("readme.md", "readme", "readme.txt", "readme.rst", "model_card.md", "modelcard.md")


@dataclass(frozen=True)
class ReadmeText:
    path: str
    text: str | None  # None: not read, `problem` says why
    problem: str | None = None  # "is packed as an archive; not shown", ...: follows the path in a sentence


def find_readme(info: ModelInfo) -> FileInfo | None:
    """The doc layer that is the model's README: the shallowest, README.md before other names."""
    ranked = [(path.count("/"), README_NAMES.index(path.rsplit("/", 1)[-1].lower()), f)
              for f in info.files if f.kind == "doc" and (path := f.path or "")
              and path.rsplit("/", 1)[-1].lower() in README_NAMES]
    return min(ranked, key=lambda r: r[:2])[2] if ranked else None


def read_readme(repo: BlobReader, info: ModelInfo, limit: int) -> ReadmeText | None:
    """The README's text (UTF-8, undecodable bytes replaced), or why it is not read; None without one.

    Args:
        repo: where the model's blobs are.
        info: the model.
        limit: the largest README read, in bytes.

    Returns:
        The path with its text, or with the problem (an archive layer, over `limit`, unreadable).
    """
    found = find_readme(info)
    if found is None or found.path is None:
        return None
    parsed = mt.parse_layer_media_type(found.media_type)
    if parsed is None or parsed[1] != "raw":
        return ReadmeText(found.path, None, "is packed as an archive; not shown")
    if found.size > limit:
        return ReadmeText(found.path, None, f"is {found.size} bytes, over {limit}; not shown")
    try:
        data = read_small(repo, Descriptor(mediaType=found.media_type, digest=found.digest, size=found.size), limit)
    except ModelpackError as exc:
        return ReadmeText(found.path, None, f"could not be read: {exc}")
    return ReadmeText(found.path, data.decode("utf-8", errors="replace"))
