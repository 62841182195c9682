"""Finding what refers to a manifest in any storage (its signatures, its model.sig), without loading
any cryptography: `pull -o` looks for a model.sig on every pull, while the blobs download.

Referrers come from the storage's own index where it has one (the OCI 1.1 referrers API, an OCI
layout's index), else from the tag-schema fallback index tagged `sha256-<hex>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from modelpack.errors import (
    IntegrityError,
    NotFoundError,
    TransportError,
    UnsupportedArtifactError,
    VerificationError,
)
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.store.target import ReferrerLister, Storage, read_small

MAX_BUNDLE_BYTES = 1024 * 1024
# Writers of a signature tag (the fallback index, cosign's `.sig`) read it back this long after writing it:
# no registry compares and sets a tag, and another writer's read-then-write (a few ms) that began before ours
# landed then lands within it, so the lost entry is seen and written again.
TAG_SETTLE_SECONDS = 0.1
MAX_REFERRERS = 100  # cosign's limit on the signatures and attestations it walks per image
MODEL_SIG_FILE = "model.sig"  # the name `model_signing verify` expects beside the model's files
T = TypeVar("T")


def fallback_tag(digest: str) -> str:
    alg, _, hexd = digest.partition(":")
    return f"{alg}-{hexd}"


def is_signature_tag(tag: str) -> bool:
    """Whether a tag names signatures, not a version: `sha256-<hex>` (the referrers fallback) and
    `sha256-<hex>.sig`/`.att` (cosign's)."""
    return tag.startswith(("sha256-", "sha512-")) and len(tag) >= 71


_SUBJECT_TAG = re.compile(r"(sha256-[0-9a-f]{64}|sha512-[0-9a-f]{128})(?:\.(?:sig|att|sbom))?")


def signature_subject(tag: str) -> str | None:
    """The digest a signature tag is about (`sha256-<hex>[.sig|.att|.sbom]` names `sha256:<hex>`), or None
    for any other tag."""
    found = _SUBJECT_TAG.fullmatch(tag)
    return found.group(1).replace("-", ":", 1) if found else None


class TooManyReferrers(VerificationError):
    """More signatures and attestations than anyone attaches: walking them is what a hostile registry wants."""


def referrers(repo: Storage, digest: str) -> list[Descriptor]:
    """Referrers of a manifest, each once: from the referrers API where the registry has it, else the
    fallback tag. Raises TooManyReferrers past MAX_REFERRERS, as cosign does."""
    found = repo.list_referrers(digest) if isinstance(repo, ReferrerLister) else None
    if found is None:
        current = repo.find(fallback_tag(digest))
        node = _signature_node(repo, current.digest, fallback_tag(digest)) if current is not None else None
        found = list(node.manifests) if isinstance(node, Index) else []
    unique = list({ref.digest: ref for ref in found}.values())
    if len(unique) > MAX_REFERRERS:
        raise TooManyReferrers(f"{digest} has {len(unique)} signatures and attestations, more than "
                               f"{MAX_REFERRERS} (cosign's limit); refusing to walk them")
    return unique


def reachable(read: Callable[[], list[T]], unreachable: list[TransportError]) -> list[T]:
    """`read()`, or nothing where a registry could not be reached (the error goes to `unreachable`).

    Signatures live in two places, the referrers (or their `sha256-<hex>` fallback index) and cosign's legacy
    `.sig`/`.att` tags. With the origin down, a registries.conf mirror may hold one and not the other: what it
    holds still counts, and the unreachable origin is the caller's error only when nothing does.
    """
    try:
        return read()
    except TransportError as exc:
        unreachable.append(exc)
        return []


def referrers_or_reason(repo: Storage, digest: str, reasons: list[str]) -> list[Descriptor]:
    """`referrers`, or none where the fallback index is broken (why goes to `reasons`): cosign's legacy
    tag may still hold what is looked for.

    Raises:
        TooManyReferrers: past MAX_REFERRERS.
    """
    try:
        return referrers(repo, digest)
    except TooManyReferrers:
        raise
    except (VerificationError, NotFoundError) as exc:
        reasons.append(str(exc))
        return []


def _signature_node(repo: Storage, version: str, name: str) -> Manifest | Index:
    """A signature's manifest or index. What a registry serves as a signature is never more than a
    signature that does not verify: malformed, it is a VerificationError (exit 7). NotFoundError when
    `version` names nothing."""
    try:
        return parse_manifest(repo.fetch_manifest(version)[1])
    except (IntegrityError, UnsupportedArtifactError) as exc:
        raise VerificationError(f"{name} is not a valid signature manifest ({exc})") from None


def signature_manifest(repo: Storage, version: str) -> Manifest:
    """A signature manifest. Raises NotFoundError when `version` names none, VerificationError when
    what it names is not one."""
    node = _signature_node(repo, version, version)
    if not isinstance(node, Manifest):
        raise VerificationError(f"{version} is not a signature manifest")
    return node


def legacy_layers(repo: Storage, tag: str, media_type: str, reasons: list[str]) -> list[Descriptor]:
    """The layers of `media_type` in one of cosign's legacy manifests (`sha256-<hex>.sig` or `.att`).

    Args:
        repo: where the manifest lives.
        tag: its tag.
        media_type: the layers wanted (simple-signing payloads, DSSE envelopes).
        reasons: where a malformed manifest is reported (then none are returned).

    Returns:
        The layers; none when the tag does not exist.

    Raises:
        TooManyReferrers: more than MAX_REFERRERS of them.
    """
    try:
        legacy = signature_manifest(repo, tag)
    except NotFoundError:
        return []
    except VerificationError as exc:
        reasons.append(str(exc))
        return []
    layers = [layer for layer in legacy.layers if layer.media_type == media_type]
    if len(layers) > MAX_REFERRERS:
        raise TooManyReferrers(f"{tag} holds {len(layers)} signatures or attestations, more than {MAX_REFERRERS} "
                               "(cosign's limit); refusing to walk them")
    return layers


def signature_blob(repo: Storage, layer: Descriptor) -> bytes:
    try:
        return read_small(repo, layer, MAX_BUNDLE_BYTES)
    except IntegrityError:
        raise VerificationError(f"signature blob {layer.digest} is too large or does not match its digest") \
            from None
    except NotFoundError:
        raise VerificationError(f"signature blob {layer.digest} is missing") from None


def model_signature(repo: Storage, subject_digest: str,
                    accept: Callable[[bytes], bool] | None = None) -> bytes | None:
    """The OpenSSF model-signing bundle (model.sig) attached to a manifest, if any. A listed one that
    cannot be read (deleted since, malformed, hostile), or that `accept` refuses, is passed over: another
    may be the real one.

    Raises:
        VerificationError: none could be read, and one listed was broken (why).
        NotFoundError: the fallback index is listed by a tag but missing.
    """
    try:
        found = referrers(repo, subject_digest)
    except TooManyReferrers:
        return None  # model.sig is a convenience; `verify` reports the excess
    broken: Exception | None = None
    for ref in found:
        # A listing without artifactType (skopeo 1.9 drops it when it copies a fallback index) is judged by
        # the manifest's own; one listed as another kind is not worth a download.
        listed = ref.artifact_type == mt.MODEL_SIGNING_ARTIFACT
        if not listed and ref.artifact_type is not None:
            continue
        try:
            manifest = signature_manifest(repo, ref.digest)
        except (VerificationError, NotFoundError) as exc:
            if listed:
                broken = exc
            continue  # unlabelled and unreadable: it may have been anything
        if not listed and manifest.artifact_type != mt.MODEL_SIGNING_ARTIFACT:
            continue
        try:
            for layer in manifest.layers:
                if layer.media_type == mt.SIGSTORE_BUNDLE:
                    data = signature_blob(repo, layer)
                    if accept is None or accept(data):
                        return data
                    raise VerificationError(f"{ref.digest} lists other files than the model's")
        except (VerificationError, NotFoundError) as exc:
            broken = exc
    if broken is not None:
        raise VerificationError(f"the model-signing signature listed for {subject_digest} cannot be read ({broken})")
    return None
