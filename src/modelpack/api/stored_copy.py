"""A model's copy in the local store standing in for its registry while the registry cannot be reached
(`pull REPO@DIGEST -o DIR`, `serve REPO@DIGEST`).

A digest names its bytes: the copy a pull left in the store, every blob hashed again, is that model, as the
registry would have served it. Only a reference by digest is taken so (a tag is the registry's to say), and
only where no signature is asked for (a key, a signature policy's requirement): a signature is looked up in
the registry. A tag's failure names the digest the store last recorded for it, for the user to choose.
"""

from __future__ import annotations

import logging

from modelpack.errors import (
    IntegrityError,
    ModelpackError,
    NotFoundError,
    RegistryError,
    TransportError,
    add_context,
)
from modelpack.oci.descriptor import Manifest, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.selection import LayerSelection
from modelpack.store.layout import LayoutStore


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the registry could not be reached: no connection (refused, no such host, timed
    out, cut, TLS) or a server error (5xx) its retries did not get past."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, RegistryError) and exc.status is not None and 500 <= exc.status <= 599


def stand_in(ref: Reference, exc: ModelpackError, store: LayoutStore, *, signature_asked: bool,
             selection: LayerSelection | None = None) -> str | None:
    """The digest whose copy in the local store stands in for `ref`, which its registry could not serve.

    Args:
        ref: what was asked for.
        exc: what the registry did (see `unreachable`; any other error: None).
        store: the local store.
        signature_asked: a signature was to be checked (a key, a signature policy's requirement): it is in
            the registry, so no stored copy stands in.
        selection: the layers wanted (default: all).

    Returns:
        `ref`'s digest when the store holds its manifest, config and the layers wanted, each blob verified
        (a corrupt one is removed); else None, and for a tag whose stored copy would do, `exc` then says
        which digest the store last recorded for it.
    """
    if signature_asked or not unreachable(exc):
        return None
    if ref.digest:
        if _complete(ref, store, selection or LayerSelection(), exc):
            return ref.digest
        return None
    recorded = store.find(ref)
    if recorded is not None and _complete(ref.with_digest(recorded.digest), store, selection or LayerSelection(),
                                          exc):
        pinned = ref.with_digest(recorded.digest)
        add_context(exc, f"the local store last recorded {ref} as {recorded.digest}: name {pinned} to use "
                         "that copy while the registry is down")
    return None


def say_stand_in(log: logging.Logger, exc: ModelpackError, doing: str) -> None:
    """The one warning that the registry could not be reached (`exc`) and what is `doing` instead."""
    log.warning("warning: %s; %s from the local store (every blob verified)", exc, doing)


def _complete(ref: Reference, store: LayoutStore, selection: LayerSelection, exc: ModelpackError) -> bool:
    """Whether the store holds `ref` (by digest) whole as `selection` takes it, each blob hashed again; a
    damaged copy is named on `exc`."""
    try:
        desc = store.find(ref)
        if desc is None:
            return False
        node = parse_manifest(store.read_blob_bytes(desc))  # (hashed as it is read)
        if not isinstance(node, Manifest):
            return False  # an index: neither pull -o nor serve takes one
        wanted = [layer for layer in node.layers if selection(layer)]
        if not all(store.has_blob(blob) for blob in [node.config, *wanted]):
            return False  # left out by a partial pull, or removed
        for blob in [node.config, *wanted]:
            store.verify_blob(blob)  # (remembered: unpacking does not hash a file's blob twice)
    except IntegrityError:
        add_context(exc, f"the local store's copy of {ref.digest} is damaged (a corrupt blob was removed)")
        return False
    except (NotFoundError, ValueError):
        return False
    return True


__all__ = ["say_stand_in", "stand_in", "unreachable"]
