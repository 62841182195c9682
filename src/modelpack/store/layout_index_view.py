"""An OCI layout's `index.json`, read into maps once per version of the file: a layout with thousands of tags
was read and parsed again for every lookup (eight times per `copy`), and a digest it does not list was looked
for in every index it lists, each lookup (`OciLayout._listed_by_an_index`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from modelpack.errors import IntegrityError, UsageError
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, parse_manifest

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
            IntegrityError: it is not a valid image index.
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
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except IsADirectoryError:
            raise UsageError(f"{self.path} is a directory, not an OCI layout's index") from None
        try:
            node = parse_manifest(data)
        except IntegrityError as exc:
            raise IntegrityError(f"the OCI layout's index {self.path} is not valid ({exc})") from None
        if not isinstance(node, Index):
            raise IntegrityError(f"the OCI layout's index {self.path} is not an image index")
        return list(node.manifests)
