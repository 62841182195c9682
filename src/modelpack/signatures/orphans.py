"""Signature tags a deleted model leaves behind: once `rm --remote` has deleted a model's manifest, the
tags that exist only for it go too — the referrers fallback index `sha256-<hex>` and cosign's
`sha256-<hex>.sig` and `.att` — so a repository whose models are all deleted lists no tags.

Only tags named after the deleted digest are touched, so the signatures of a model still in the registry
stay. Where the registry cannot delete a tag alone, the manifest the tag names is deleted instead, but
never when a tag outside the deleted model's own signature tags names it too (it would go as well), and
only when it is what the tag's name says: a tag is the registry's claim, and anyone who can push can point
`sha256-<hex>.sig` at another model's manifest (an untagged version deployed by digest).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol

from modelpack.errors import AuthenticationError, ModelpackError, NotFoundError, RegistryError
from modelpack.oci.descriptor import Index, Manifest, parse_manifest
from modelpack.signatures.lookup import MAX_REFERRERS, fallback_tag
from modelpack.store.target import Deleter, Storage

SIGNATURE_TAG_SUFFIXES = ("", ".sig", ".att")  # the fallback index, cosign's signatures, its attestations


@dataclass
class SignatureTagRemoval:
    """The deleted model's signature tags that were removed, and why any were left (one line each)."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


class _SignatureRepository(Deleter, Storage, Protocol):
    """Where signature tags are removed: deleted from, and read to check what a tag names."""


def remove_signature_tags(repo: _SignatureRepository, digest: str, tags: Mapping[str, str]) -> SignatureTagRemoval:
    """Remove the signature tags of the model manifest `digest`, which has just been deleted.

    Args:
        repo: the repository it was deleted from.
        digest: the deleted manifest's digest.
        tags: every tag of the repository and the digest it named, read before the deletion.

    Returns:
        The tags removed, and a line for each one left (another tag names its manifest, or the registry
        refused); the model's deletion stands either way, so nothing here raises for a refusal.
    """
    own = {fallback_tag(digest) + suffix for suffix in SIGNATURE_TAG_SUFFIXES} & tags.keys()
    result = SignatureTagRemoval()
    for tag in sorted(own):
        others = sorted(t for t, named in tags.items() if named == tags[tag] and t not in own)
        try:
            if repo.untag(tag):
                result.removed.append(tag)
                continue
            if others:
                result.kept.append(f"{tag} kept: tag(s) {', '.join(others)} name the same manifest")
                continue
            if not _signature_of(repo, tag.removeprefix(fallback_tag(digest)), tags[tag], digest):
                result.kept.append(f"{tag} kept: it names {tags[tag]}, which is not a signature of {digest}")
                continue
            with suppress(NotFoundError):  # gone with a sibling: cosign's .sig and .att may name one manifest
                repo.delete_manifest(tags[tag])
        except (RegistryError, AuthenticationError) as exc:
            result.kept.append(f"{tag} kept: {exc}")
            continue
        result.removed.append(tag)
    return result


def _signature_of(repo: Storage, suffix: str, named: str, digest: str) -> bool:
    """Whether the manifest `named`, which signature tag `sha256-<hex>` + `suffix` names, is one of `digest`:
    a fallback index whose entries are all referrers of it (their `subject`), or a cosign `.sig`/`.att`
    manifest holding only simple-signing and DSSE layers. Anything else (a model, an image) is kept."""
    from modelpack.signatures.attestations import DSSE_ENVELOPE
    from modelpack.signatures.referrers import SIMPLE_SIGNING

    try:
        node = parse_manifest(repo.fetch_manifest(named)[1])
    except NotFoundError:
        return True  # gone with a sibling tag's manifest: nothing left to protect
    except ModelpackError:
        return False
    try:
        if suffix:  # (one manifest may hold both kinds: cosign's .sig and .att can name the same one)
            return isinstance(node, Manifest) and bool(node.layers) and all(
                layer.media_type in (SIMPLE_SIGNING, DSSE_ENVELOPE) for layer in node.layers)
        if not isinstance(node, Index) or len(node.manifests) > MAX_REFERRERS:
            return False
        for entry in node.manifests:
            try:
                child = parse_manifest(repo.fetch_manifest(entry.digest)[1])
            except NotFoundError:
                continue  # deleted already: no manifest to protect
            if not isinstance(child, Manifest) or child.subject is None or child.subject.digest != digest:
                return False
        return True
    except ModelpackError:
        return False
