"""What removing a reference from the local store drops from its `index.json`: the entries naming it, and
then the entries that only exist for a manifest no name is left on (its signatures' fallback tags and what
they list). Pure: `LayoutStore.remove_reference` writes the rest back and collects the blobs.
"""

from __future__ import annotations

from collections.abc import Callable

from modelpack.oci.descriptor import Descriptor
from modelpack.oci.reference import Reference
from modelpack.store.index_file import StoreEntry
from modelpack.store.missing_name import not_in_store


def entries_removed(entries: list[StoreEntry], reference: Reference,
                    read_index: Callable[[Descriptor], list[str]]) -> tuple[list[StoreEntry], list[StoreEntry],
                                                                             list[StoreEntry]]:
    """The entries a removal of `reference` drops, and those it keeps.

    Args:
        entries: the store's index entries.
        reference: a tag, or a digest (every name of it in its repository).
        read_index: the digests an index lists (none when it cannot be read).

    Returns:
        (the entries naming `reference`, the signature entries of a manifest no name is left on
        (`attached_entries`), the entries kept).

    Raises:
        NotFoundError: no entry names `reference` (naming what the store holds that is near it).
    """
    if reference.digest and not reference.tag:
        gone = [e for e in entries if e.reference.startswith(reference.name + ":")
                or e.reference.startswith(reference.name + "@")]
        gone = [e for e in gone if e.descriptor.digest == reference.digest]
    else:
        gone = [e for e in entries if e.reference == str(reference)]
    if not gone:
        raise not_in_store(reference, (e.reference for e in entries))
    kept = [e for e in entries if e not in gone]
    signatures: list[StoreEntry] = []
    for digest in sorted({e.descriptor.digest for e in gone} - {e.descriptor.digest for e in kept}):
        attached = attached_entries(kept, reference.name, digest, read_index)  # sign --local's, a copy's
        kept = [e for e in kept if e not in attached]
        signatures += attached
    return gone, signatures, kept


def attached_entries(entries: list[StoreEntry], name: str, digest: str,
                     read_index: Callable[[Descriptor], list[str]]) -> list[StoreEntry]:
    """The entries that only exist for `digest`, which no entry names any more: its fallback tags
    (`NAME:sha256-<hex>[.sig|.att]`) and the signatures and attestations they list by digest, in repository
    `name` and every other one holding such tags (a model signed under one name, tagged under another with
    `modelpack tag` and removed under both, left the first name's: a fallback index of nothing).

    Args:
        entries: the store's index entries (those kept).
        name: the repository the model was removed from.
        digest: its manifest digest.
        read_index: the digests an index lists (none when it cannot be read).

    Returns:
        The entries to drop with it.
    """
    found: list[StoreEntry] = []
    for repository in sorted(_signature_names(entries, digest) | {name}):
        tag = f"{repository}:{digest.replace(':', '-')}"
        tagged = [e for e in entries if e.reference in (tag, tag + ".sig", tag + ".att")]
        listed = {d for e in tagged for d in read_index(e.descriptor)}
        found += tagged + [e for e in entries
                           if e.descriptor.digest in listed and e.reference == f"{repository}@{e.descriptor.digest}"]
    return found


def _signature_names(entries: list[StoreEntry], digest: str) -> set[str]:
    """The repositories holding signature tags of `digest` (`NAME:sha256-<hex>[.sig|.att]`)."""
    tag = digest.replace(":", "-")
    names = set()
    for entry in entries:
        name, _, found = entry.reference.rpartition(":")
        if found in (tag, tag + ".sig", tag + ".att"):
            names.add(name)
    return names
