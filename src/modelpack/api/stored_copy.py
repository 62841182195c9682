"""A model's copy in the local store standing in for its registry while the registry cannot be reached
(`pull REPO@DIGEST [-o DIR]`, `serve REPO@DIGEST`).

A digest names its bytes: the copy a pull left in the store, every blob hashed again, is that model, as the
registry would have served it. Only a reference by digest is taken so (a tag is the registry's to say), and
only where no signature is asked for (a key, a signature policy's requirement): a signature is looked up in
the registry. A tag's failure names the digest the store last recorded for it, for the user to choose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from modelpack.errors import (
    IntegrityError,
    ModelpackError,
    NotFoundError,
    RegistryError,
    TransportError,
    add_context,
)
from modelpack.oci.descriptor import Descriptor, Manifest, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.selection import LayerSelection
from modelpack.store.layout import LayoutStore


@dataclass(frozen=True)
class StoredCopy:
    """The local store's copy of a model that stands in for its registry: its manifest, read (and hashed)
    once, for the caller to use rather than read again."""

    descriptor: Descriptor  # the manifest's
    manifest: Manifest

    @property
    def digest(self) -> str:
        return self.descriptor.digest


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the registry could not be reached: no connection (refused, no such host, timed
    out, cut, TLS) or a server error (5xx) its retries did not get past."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, RegistryError) and exc.status is not None and 500 <= exc.status <= 599


def stand_in(ref: Reference, exc: ModelpackError, store: LayoutStore, *, signature_asked: bool,
             selection: LayerSelection | None = None) -> StoredCopy | None:
    """The local store's copy that stands in for `ref`, which its registry could not serve.

    Args:
        ref: what was asked for.
        exc: what the registry did (see `unreachable`; any other error: None).
        store: the local store.
        signature_asked: a signature was to be checked (a key, a signature policy's requirement): it is in
            the registry, so no stored copy stands in.
        selection: the layers wanted (default: all).

    Returns:
        For a digest, its copy when the store holds its manifest, config and the layers wanted, each blob
        hashed again (a corrupt one is removed, and `exc` says the copy is damaged); else None.
        For a tag, always None: when the store holds the manifest, config and layers wanted of the digest
        it last recorded for the tag, `exc` names that digest for the user to pull by. Only their presence
        and sizes are checked, not their bytes (a 70 GB model is not read for an error message): a blob
        damaged in place is found by the pull by digest the user then runs, which says the copy is damaged.
        A damaged manifest (read, so hashed, either way) is said on both paths.
    """
    if signature_asked or not unreachable(exc):
        return None
    wanted = selection or LayerSelection()
    if ref.digest:
        return _complete(ref, store, wanted, exc)
    recorded = store.find(ref)
    if recorded is None:
        return None
    pinned = ref.with_digest(recorded.digest)
    if _present(pinned, store, wanted, exc) is not None:
        add_context(exc, f"the local store last recorded {ref} as {recorded.digest}: name {pinned} to use "
                         "that copy while the registry is down")
    return None


def say_stand_in(log: logging.Logger, exc: ModelpackError, instead: str) -> None:
    """The one warning that the registry could not be reached (`exc`) and what the local store's copy does
    `instead` ("writing D into DIR from the local store")."""
    log.warning("warning: %s; %s (every blob verified)", exc, instead)


def _complete(ref: Reference, store: LayoutStore, selection: LayerSelection, exc: ModelpackError) -> StoredCopy | None:
    """`ref`'s (by digest) copy when the store holds it whole as `selection` takes it, each blob hashed
    again; a damaged copy is named on `exc`."""
    found = _present(ref, store, selection, exc)
    if found is None:
        return None
    try:
        for blob in [found.manifest.config, *_wanted(found.manifest, selection)]:
            store.verify_blob(blob)  # (remembered: unpacking does not hash a file's blob twice)
    except IntegrityError:
        add_context(exc, f"the local store's copy of {ref.digest} is damaged (a corrupt blob was removed)")
        return None
    return found


def _present(ref: Reference, store: LayoutStore, selection: LayerSelection, exc: ModelpackError) -> StoredCopy | None:
    """`ref`'s (by digest) copy when the store holds its manifest (hashed as it is read), config and the
    layers `selection` takes, each of its recorded size (a stat each: their bytes are not read)."""
    try:
        desc = store.find(ref)
        if desc is None:
            return None
        node = parse_manifest(store.read_blob_bytes(desc))
    except IntegrityError:
        add_context(exc, f"the local store's copy of {ref.digest} is damaged (its manifest)")
        return None
    except (NotFoundError, ValueError):
        return None
    if not isinstance(node, Manifest):
        return None  # an index: neither pull nor serve stands one in
    if not all(store.has_blob(blob) for blob in [node.config, *_wanted(node, selection)]):
        return None  # left out by a partial pull, or removed
    return StoredCopy(desc, node)


def _wanted(node: Manifest, selection: LayerSelection) -> list[Descriptor]:
    return [layer for layer in node.layers if selection(layer)]


__all__ = ["StoredCopy", "say_stand_in", "stand_in", "unreachable"]
