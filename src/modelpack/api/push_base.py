"""Which manifest already in the destination repository tells a push of a new tag what blobs are there.

A new version of a model of many files is mostly the previous one: its blobs need no HEAD each (5,000
files took 5,000 HEADs, 5 to 11 s against a local registry, for a one-file change). The repository's
`latest` tag, else its highest version tag, names a manifest; the registry took that manifest only
once every blob it names was in the repository, so those blobs are skipped without asking. A tag that
names an older or unrelated version only means more blobs are asked about, as before.
"""

from __future__ import annotations

from modelpack.errors import ModelpackError
from modelpack.oci.descriptor import Manifest, parse_manifest
from modelpack.query import natural_key
from modelpack.store.target import Storage, TagLister

SIGNATURE_TAG_PREFIX = "sha256-"  # cosign's signature and attestation tags name no model


def sibling_manifest(dst: Storage, tag: str | None) -> Manifest | None:
    """The manifest of another tag of `dst` (`latest`, else the highest version), or None when there is
    none or it cannot be read (the push then asks about each blob, as for any repository).

    Args:
        dst: the repository pushed to.
        tag: the tag being pushed (not a sibling of itself).

    Returns:
        That tag's manifest (an index is None: its blobs are its children's).
    """
    if not isinstance(dst, TagLister):
        return None
    try:
        tags = [t for t in dst.tags() if t != tag and not t.startswith(SIGNATURE_TAG_PREFIX)]
        if not tags:
            return None
        chosen = "latest" if "latest" in tags else max(tags, key=natural_key)
        node = parse_manifest(dst.fetch_manifest(chosen)[1])
    except (ModelpackError, ValueError):
        return None  # a registry that will not list tags, or a manifest it cannot serve: no shortcut
    return node if isinstance(node, Manifest) else None
