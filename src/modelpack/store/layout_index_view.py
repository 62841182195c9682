"""An OCI layout's `index.json`, read into maps once per version of the file: a layout with thousands of tags
was read and parsed again for every lookup (eight times per `copy`), and a digest it does not list was looked
for in every index it lists, each lookup (`OciLayout._listed_by_an_index`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from modelpack.errors import IntegrityError
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Descriptor, Index, parse_manifest
from modelpack.store.layout_files import read_regular

# index.json lists every manifest of the layout (each tag, each signature), so it may be far larger than one
# manifest: an entry is ~280 bytes, so 100,000 tags make 28 MB (measured: parsed in ~1 s, ~150 MB). Capped at
# 8 manifests' worth, 32 MiB (~115,000 tags), so a hostile one costs at most ~1 GB to parse (Python holds a
# JSON value in ~30 times its text: 32 MiB of `{},` is 11 million dicts), never an unbounded read.
MAX_LAYOUT_INDEX_BYTES = 8 * MAX_MANIFEST_BYTES

# What identifies one version of index.json: every write replaces it by a rename (a new inode), and another
# tool writing it in place changes its size or modification time.
Signature = tuple[int, int, int, int]


@dataclass
class IndexView:
    """The entries of one version of index.json, by tag and by digest (the first entry of each wins, as a
    scan in order would find it). `children`: what the indexes it lists list, by digest, filled in by the
    caller the first time a digest is not found among the entries (None until then)."""

    entries: list[Descriptor]
    by_tag: dict[str, Descriptor] = field(default_factory=dict)
    by_digest: dict[str, Descriptor] = field(default_factory=dict)
    children: dict[str, Descriptor] | None = None

    def __post_init__(self) -> None:
        for entry in self.entries:
            if (tag := entry.annotation(mt.A_REF_NAME)) is not None:
                self.by_tag.setdefault(tag, entry)
            self.by_digest.setdefault(entry.digest, entry)


class IndexFile:
    """index.json at `path`, read again only when it has changed since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cached: tuple[Signature, IndexView] | None = None

    def view(self) -> IndexView:
        """The index as it is now: from memory when the file is unchanged.

        Raises:
            UsageError: index.json is a directory.
            IntegrityError: it is not a valid image index, is over MAX_LAYOUT_INDEX_BYTES, or is no regular file.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return IndexView([])
        signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._cached
        if cached is not None and cached[0] == signature:
            return cached[1]
        view = IndexView(self.read())
        self._cached = (signature, view)
        return view

    def read(self) -> list[Descriptor]:
        """The entries, read from the file now (what a writer holding the layout's lock must start from)."""
        try:
            data = read_regular(self.path, MAX_LAYOUT_INDEX_BYTES, "the OCI layout's index")
        except FileNotFoundError:
            return []
        try:
            node = parse_manifest(data, MAX_LAYOUT_INDEX_BYTES)
        except IntegrityError as exc:
            raise IntegrityError(f"the OCI layout's index {self.path} is not valid ({exc})") from None
        if not isinstance(node, Index):
            raise IntegrityError(f"the OCI layout's index {self.path} is not an image index")
        return list(node.manifests)
