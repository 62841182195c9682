"""The local store seen as one repository (a registry's role in `copy()`): what a pull stores into and
a push or copy from the local store reads from."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.errors import IntegrityError, NotFoundError
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.store.target import Opener, Progress
from modelpack.streams import ByteStream

if TYPE_CHECKING:
    from modelpack.store.layout import LayoutStore


class LayoutRepository:
    """The local store seen as one repository, so `copy()` can treat it like a registry. `also_at`:
    a directory the blobs will be copied to afterwards (pull -o), counted in the free-space check.
    `partial`: a copy that leaves layers out; a manifest it stores without all its layers is recorded
    as partial. `patience`: seconds another process fetching a blob into the store may make no
    progress before this copy fetches it too (see `fetch_lock`; default MODELPACK_TIMEOUT's)."""

    def __init__(self, store: LayoutStore, name: str, also_at: Path | None = None, partial: bool = False,
                 patience: float | None = None) -> None:
        self.store = store
        self.patience = patience
        self.name = name
        self.also_at = also_at
        self.partial = partial

    def writing(self) -> contextlib.AbstractContextManager[None]:
        return self.store.writing()

    def reading(self) -> contextlib.AbstractContextManager[None]:
        return self.store.reading()

    def cancel(self) -> None:
        self.store.cancel()

    def resume(self) -> None:
        self.store.resume()

    @property
    def arrived(self) -> set[str]:
        return self.store.arrived

    def prepare_blobs(self, blobs: list[Descriptor]) -> None:
        self.store.check_room(blobs, self.also_at)

    def _ref(self, version: str) -> Reference:
        base = Reference.parse(self.name + ":x")
        return base.with_digest(version) if digests.is_digest(version) else base.with_tag(version)

    def has_blob(self, desc: Descriptor) -> bool:
        return self.store.has_blob(desc)

    def has_manifest(self, desc: Descriptor) -> bool:
        # Unlike a registry, a local directory can lose files: check the children too (stat calls only),
        # each node once, so a diamond-shaped index costs its size, not its number of paths.
        seen: set[str] = set()
        pending = [desc]
        while pending:
            current = pending.pop()
            if current.digest in seen:
                continue
            seen.add(current.digest)
            if not self.store.has_blob(current):
                return False
            try:
                node = parse_manifest(self.store.read_blob_bytes(current))
            except (IntegrityError, NotFoundError):
                return False
            if isinstance(node, Manifest):
                if not all(self.store.has_blob(d) for d in (node.config, *node.layers)):
                    return False
            else:
                pending.extend(node.manifests)
        return True

    def open_blob(self, desc: Descriptor) -> ByteStream:
        return self.store.open_blob(desc)

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        self.store.push_blob(desc, opener, progress, patience=self.patience)

    def resolve(self, version: str) -> Descriptor:
        return self.store.resolve(self._ref(version))

    def find(self, version: str) -> Descriptor | None:
        # A local tag whose content has gone missing (or been found corrupt) counts as absent, so a
        # pull fetches the content again instead of trusting the tag.
        desc = self.store.find(self._ref(version))
        return desc if desc is not None and self.has_manifest(desc) else None

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        desc = self.resolve(version)
        return desc, self.store.read_blob_bytes(desc)

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        self.store.put_bytes(desc, data)
        ref = self._ref(tag) if tag else self._ref(desc.digest)
        self.store.set_reference(ref, desc, partial=self.partial and not self.has_manifest(desc))
