"""Signature tags a deleted model leaves behind: once `rm --remote` has deleted a model's manifest, the
tags that exist only for it go too — the referrers fallback index `sha256-<hex>` and cosign's
`sha256-<hex>.sig` and `.att` — so a repository whose models are all deleted lists no tags.

Only tags named after the deleted digest are touched, so the signatures of a model still in the registry
stay. Where the registry cannot delete a tag alone, the manifest the tag names is deleted instead, but
never when a tag outside the deleted model's own signature tags names it too (it would go as well).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field

from modelpack.errors import AuthenticationError, NotFoundError, RegistryError
from modelpack.signatures.lookup import fallback_tag
from modelpack.store.target import Deleter

SIGNATURE_TAG_SUFFIXES = ("", ".sig", ".att")  # the fallback index, cosign's signatures, its attestations


@dataclass
class SignatureTagRemoval:
    """The deleted model's signature tags that were removed, and why any were left (one line each)."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def remove_signature_tags(repo: Deleter, digest: str, tags: Mapping[str, str]) -> SignatureTagRemoval:
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
            with suppress(NotFoundError):  # gone with a sibling: cosign's .sig and .att may name one manifest
                repo.delete_manifest(tags[tag])
        except (RegistryError, AuthenticationError) as exc:
            result.kept.append(f"{tag} kept: {exc}")
            continue
        result.removed.append(tag)
    return result
