"""A folder pushed again unchanged, known without describing it again.

Describing a folder (pydantic imported, its metadata validated, a descriptor and a hash-cache lookup per
file, the manifest built) cost a 2,000-file model ~0.25 s of a 0.45 s re-push, only to learn the digest
the push before produced. What decides that digest is kept instead, as the hash cache keeps a file's
digest: every file's stat as the folder's walk found it (path, mode, size, times, inode, device: as
trusted for each file's digest already), modelpack.yaml's bytes, the git facts the metadata records
(the metadata is built from those very bytes and facts: see folder_metadata), SOURCE_DATE_EPOCH, the default
name, and modelpack's version and code (see code_stamp). While all of them are as they were, the folder
packs to the same manifest; a registry whose tag names it already needs nothing, and the push is one
request.

Only for a folder whose metadata nothing else decides: no overrides, and none of the fields a plan
settles first (files, format, parent, datasets: lineage is pinned by asking registries, which may answer
otherwise now). A file changed too recently to be vouched for (see hashcache.settled) leaves nothing
kept, and what is kept is only trusted by comparison: the registry's tag must name that very digest.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelpack.code_stamp import code_stamp
from modelpack.oci.digest import is_digest

if TYPE_CHECKING:
    from collections.abc import Callable

    from modelpack.api.describing import Plan
    from modelpack.oci.descriptor import Descriptor, Manifest
    from modelpack.packing.hashcache import HashCache
    from modelpack.store.copy import CopyResult


@dataclass
class FolderRecord:
    """What a folder packed to, kept under the fingerprint of everything that decided it."""

    hashes: HashCache
    name: str
    fingerprint: str
    known: str | None = None  # what `packed_digest` found

    @classmethod
    def of(cls, planned: Plan, hashes: HashCache) -> FolderRecord | None:
        """The record of the folder `planned` describes; None when something besides the folder decides its
        metadata, or a file changed too recently to be vouched for.

        Args:
            planned: the folder's plan (see describing.plan), taken before any of its files is read.
            hashes: the local store's hash cache, where the record is kept.

        Returns:
            The record, to look up (`packed_digest`) and to keep (`remember`).
        """
        fingerprint = _fingerprint(planned, code_stamp())
        if fingerprint is None:
            return None
        return cls(hashes, f"folder {planned.path} as {planned.name}", fingerprint)

    def packed_digest(self) -> str | None:
        """The manifest digest the folder packed to when it was last pushed as it is now; None if unknown."""
        found = self.hashes.lookup_many({self.name: self.fingerprint}).get(self.name)
        self.known = found if isinstance(found, str) and is_digest(found) else None
        return self.known

    def remember(self, digest: str) -> None:
        """Keep `digest` as what the folder packs to (after a push of it succeeded); not written again when
        kept already (a tag moved elsewhere, pushed back): a full cache's save costs ~50 ms. (An upgrade of
        modelpack during the push files it under the stamp of the code before it, which no later process has:
        see code_stamp.)"""
        if digest == self.known:
            return
        self.hashes.store(self.name, self.fingerprint, digest)
        self.hashes.save()


def unchanged_push(record: FolderRecord | None, tagged: tuple[Descriptor | None, Manifest | None], planned: Plan,
                   warn: Callable[[str], None] | None) -> CopyResult | None:
    """What pushing a folder is when its record says it packs to the manifest its tag names already: nothing
    to send; None when that is not known.

    Args:
        record: the folder's record (None: none is kept for this push).
        tagged: the descriptor and manifest the tag names in the registry now (None, None: none).
        planned: the folder's plan.
        warn: hears of what tools left in the folder (as describing it says it).

    Returns:
        The push's result, every blob skipped; None when the folder must be described and sent.
    """
    from modelpack.api.describing import warn_leftovers
    from modelpack.store.copy import CopyResult

    desc, manifest = tagged
    if record is None or desc is None or manifest is None or record.packed_digest() != desc.digest:
        return None
    warn_leftovers(planned.sources, warn)  # said on every push of the folder, as describing it says it
    blobs = [manifest.config, *manifest.layers]
    return CopyResult(desc, skipped=blobs, blobs=list(blobs), written=False)


def _fingerprint(planned: Plan, code: str) -> str | None:
    from modelpack.packing.archive_key import walked_signature
    from modelpack.version import __version__

    if planned.metadata is not None:  # declared lineage, file rules or a format: settled by more than the folder
        return None
    # (modelpack.yaml and the git facts as the metadata is built from them: read once, see folder_metadata)
    inputs = [__version__, code, str(planned.path), planned.name, os.environ.get("SOURCE_DATE_EPOCH", ""),
              hashlib.sha256(planned.read.data).hexdigest(), planned.read.git_facts()]
    fingerprint = hashlib.sha256(json.dumps(inputs, ensure_ascii=False).encode())
    for source in planned.sources:
        walked = walked_signature(source.files)
        if walked is None:
            return None
        layer = f"{source.relpath}\0{source.kind}\0{source.archive:d}\0\0"
        fingerprint.update(layer.encode("utf-8", "surrogateescape"))
        fingerprint.update(walked)
    return fingerprint.hexdigest()
