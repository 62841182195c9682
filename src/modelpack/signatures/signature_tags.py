"""Carrying cosign's tag-based signatures along a copy: the `sha256-<hex>.sig` manifest (simple-signing
signatures, what containers-policy.json's `sigstoreSigned` reads from the registry serving the image),
`.att` (cosign's legacy attestations) and `.sbom`, for each manifest copied, as `cosign copy` does.

Every place `copy` writes to holds them as tags: a registry, an OCI layout (`index.json` entries named
by `org.opencontainers.image.ref.name`, as `skopeo copy ... oci:DIR:TAG` writes) and the local store.
What the source serves under such a tag is the source registry's to choose, so it is judged before a
byte moves: one manifest (not an index), at most MAX_REFERRERS layers of the kind the tag is for, no
layer fetched from elsewhere (`urls`), a size cap; blobs come from the source repository alone and are
verified where they land. A destination that already has the tag keeps its layers: `.sig` and `.att`
gain the source's missing ones (simple_signing.append_layers), a different `.sbom` is kept and said.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from modelpack.advice import compose, setting
from modelpack.errors import (
    AuthenticationError,
    IntegrityError,
    ModelpackError,
    NotFoundError,
    RegistryError,
    TransportError,
    UnsupportedArtifactError,
    VerificationError,
    reword,
)
from modelpack.oci.descriptor import Descriptor, Manifest, parse_manifest
from modelpack.signatures.lookup import MAX_REFERRERS, fallback_tag
from modelpack.signatures.simple_signing import COSIGN_SIGNATURE_ANNOTATION, SIMPLE_SIGNING, append_layers
from modelpack.store.copy import CopyOptions, CopyResult, copy
from modelpack.store.target import Opener, Storage

DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"  # a cosign legacy attestation's layer
MAX_SIGNATURES_BYTES = 4 * 1024 * 1024  # a `.sig`'s layers together: 100 payloads of a few hundred bytes each
MAX_ATTACHMENT_BYTES = 128 * 1024 * 1024  # `.att`/`.sbom` layers together: cosign's default attachment limit
SUFFIXES = (".sig", ".att", ".sbom")
log = logging.getLogger("modelpack.signatures")


@dataclass
class TagsCopied:
    """What happened to each signature tag found at the source."""

    copied: list[str] = field(default_factory=list)  # written or merged at the destination
    present: list[str] = field(default_factory=list)  # the destination had all of it already
    left: list[str] = field(default_factory=list)  # not carried (each said in a warning)


def copy_signature_tags(src: Storage, dst: Storage, manifests: Iterable[str], options: CopyOptions,
                        warn: Callable[[str], None] | None = None) -> TagsCopied:
    """Copy the `.sig`, `.att` and `.sbom` tags of each manifest digest in `manifests` from `src` to `dst`.

    Args:
        src: the repository (or layout, or local store) copied from.
        dst: the one copied to.
        manifests: the digests of the manifests copied (a model, an index and its children).
        options: the copy's options (progress, mounts within one registry).
        warn: told, one line each, what is not carried and why (default: a logging warning).

    Returns:
        The tags copied, already present, and left behind.

    Raises:
        AuthenticationError, TransportError: a registry refused us or could not be reached.
    """
    say = warn or log.warning
    done = TagsCopied()
    for digest in manifests:
        for suffix in SUFFIXES:
            tag = fallback_tag(digest) + suffix
            try:
                outcome = _copy_tag(src, dst, tag, suffix, options)
            except (AuthenticationError, TransportError):
                raise
            except (VerificationError, RegistryError, IntegrityError, NotFoundError, UnsupportedArtifactError) as exc:
                say(f"{tag} not copied: {exc}")
                done.left.append(tag)
                continue
            if outcome is not None:
                (done.copied if outcome else done.present).append(tag)
    return done


def carry_signatures(src: Storage, dst: Storage, copied: CopyResult, options: CopyOptions,
                     warn: Callable[[str], None] | None = None,
                     command: str = "copy") -> tuple[int, dict[str, list[str]]]:
    """Bring a copied model's signatures along: the referrers (bundles, attestations), then cosign's tags,
    of each manifest copied: a model, or an index and each of its children, whose signatures travel with it
    (what `copy` and `push` from the local store both do).

    Args:
        src: where the model was copied from.
        dst: where it was copied to.
        copied: the copy's result (its root descriptor and the manifests it wrote).
        options: the copy's options.
        warn: told, one line each, a tag not carried and why (default: a logging warning).
        command: what wrote the model, "copy" or "push" (how a failure here says so).

    Returns:
        How many referrers were carried (or found there already), all manifests' together, and the tags
        "copied", already "present" and "left" (as TransferResult.referrers and .signature_tags report them).

    Raises:
        AuthenticationError, TransportError: a registry refused us or could not be reached.
        RegistryError, IntegrityError: a referrer could not be copied.
        (Each saying first that the model itself was written: its exit code is the cause's.)
    """
    from modelpack.signatures.referrers import copy_referrers

    try:
        referrers = sum(copy_referrers(src, dst, digest, options) for digest in copied.manifests)
        tags = copy_signature_tags(src, dst, copied.manifests, options, warn)
    except ModelpackError as exc:
        # The model is in place: the line says so, else it reads as if nothing was written (an air-gapped
        # copy from a cache that holds the model, not every signature manifest, with the origin down).
        done = {"copy": "copied", "push": "pushed"}[command]
        again = compose(f"{command} it again once that is fixed, or with {{}} to leave them behind",
                        setting("with_referrers=False", "--no-referrers"))
        raise reword(exc, compose(f"the model {copied.descriptor.digest} was {done}, but not all of its signatures "
                                  "and attestations: {}", exc.wording),
                     compose("{}; or {}", exc.advice, again) if exc.advice else again) from None
    return referrers, {"copied": tags.copied, "present": tags.present, "left": tags.left}


def _copy_tag(src: Storage, dst: Storage, tag: str, suffix: str, options: CopyOptions) -> bool | None:
    """None: the source has no such tag; True: written or merged; False: the destination had it all."""
    found = src.find(tag)
    if found is None:
        return None
    desc, data = src.fetch_manifest(found.digest)  # size-capped and digest-checked by every storage
    node = _judged(tag, suffix, data)
    current = dst.find(tag)
    if current is None or (suffix == ".sbom" and current.digest != desc.digest):
        if current is not None:
            raise VerificationError(f"the destination has another {suffix} there; kept it")
        copy(src, dst, desc.digest, tag, options, fetched=(desc, data))
        return True
    if current.digest == desc.digest:
        return False

    def upload() -> None:
        for layer in node.layers:
            if not dst.has_blob(layer):
                dst.push_blob(layer, _opener(src, layer), options.progress)

    before = current.digest
    return append_layers(dst, tag, list(node.layers), upload, doing="copy the signatures").digest != before


def _judged(tag: str, suffix: str, data: bytes) -> Manifest:
    """The source's manifest, if it is what a `suffix` tag holds; else VerificationError naming why."""
    try:
        node = parse_manifest(data)
    except (IntegrityError, UnsupportedArtifactError) as exc:
        raise VerificationError(f"it is not a signature manifest ({exc})") from None
    if not isinstance(node, Manifest):
        raise VerificationError("it names an index, not a signature manifest")
    if len(node.layers) > MAX_REFERRERS:
        raise VerificationError(f"it holds {len(node.layers)} layers, more than {MAX_REFERRERS} (cosign's limit)")
    if any(x.urls for x in (node.config, *node.layers)):
        raise VerificationError("a layer is to be fetched from elsewhere (urls); signatures are read from the "
                                "registry alone")
    limit = MAX_SIGNATURES_BYTES if suffix == ".sig" else MAX_ATTACHMENT_BYTES
    total = node.config.size + sum(x.size for x in node.layers)
    if total > limit:
        raise VerificationError(f"it holds {total} bytes, over the {limit} byte limit")
    kind = {".sig": SIMPLE_SIGNING, ".att": DSSE_ENVELOPE}.get(suffix)
    if kind is not None and (not node.layers or any(x.media_type != kind for x in node.layers)):
        raise VerificationError(f"it holds layers other than {kind}")
    if suffix == ".sig" and any(not x.annotation(COSIGN_SIGNATURE_ANNOTATION) for x in node.layers):
        raise VerificationError("a layer carries no signature")
    return node


def _opener(src: Storage, layer: Descriptor) -> Opener:
    return lambda: src.open_blob(layer)
