"""Where signatures live in a registry, and how we find and verify them.

Written (as cosign 3 does): a sigstore bundle as an OCI 1.1 referrer of the signed manifest. A
registry with the referrers API indexes it itself (it answers the push with `OCI-Subject`); for one
without, the referrer is also listed in the tag-schema fallback index, tag `sha256-<hex>`.
Read: bundles found either way, and cosign's legacy layout (tag `sha256-<hex>.sig`, simple-signing
payload layers whose annotation `dev.cosignproject.cosign/signature` holds the signature).
"""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from modelpack.errors import (
    IntegrityError,
    NotFoundError,
    TransportError,
    UnsupportedArtifactError,
    VerificationError,
)
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, Manifest, listed_artifact_type, parse_manifest
from modelpack.oci.jsontext import parse_or_none
from modelpack.signatures import model_signing
from modelpack.signatures.dsse import COSIGN_PREDICATE, make_bundle, verify_bundle
from modelpack.signatures.keys import PublicKey, Signer, verify_signature
from modelpack.signatures.lookup import (
    TAG_SETTLE_SECONDS,
    fallback_tag,
    legacy_layers,
    reachable,
    referrers,
    referrers_or_reason,
    signature_blob,
    signature_manifest,
)
from modelpack.signatures.notary import is_notary, notary_note
from modelpack.signatures.simple_signing import COSIGN_SIGNATURE_ANNOTATION, SIMPLE_SIGNING, SIMPLE_SIGNING_TYPE
from modelpack.store.copy import CopyOptions
from modelpack.store.target import ReferrerLister, Storage
from modelpack.streams import ByteStream

EMPTY_JSON = b"{}"
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
log = logging.getLogger("modelpack.signatures")


@dataclass
class FoundSignature:
    kind: str  # "bundle" or "legacy"
    location: str  # the signature manifest's digest (or the legacy tag)
    annotations: dict[str, str] = field(default_factory=dict)
    layer: str | None = None  # legacy: the digest of the layer that verified (the tag holds others)


def attach_signature(repo: Storage, subject: Descriptor, signer: Signer,
                     annotations: dict[str, str] | None = None, written: list[Descriptor] | None = None) -> Descriptor:
    """Sign `subject` (a manifest, by digest) and store the bundle as its referrer. For a model whose
    layers are files, an OpenSSF model-signing `model.sig` over them is attached too (pull -o writes it).
    `written` is told each referrer manifest before it is pushed (what undoing the signing removes)."""
    bundle = make_bundle(signer, subject.digest, annotations)
    desc = attach_bundle(repo, subject, mt.SIGSTORE_BUNDLE, bundle, {
        "dev.sigstore.bundle.content": "dsse-envelope",
        PREDICATE_ANNOTATION: COSIGN_PREDICATE,
    }, written)
    node = parse_manifest(repo.fetch_manifest(subject.digest)[1])
    if isinstance(node, Manifest):
        name = (node.annotations or {}).get(mt.NS + "name") or str(getattr(repo, "name", "model")).rsplit("/", 1)[-1]
        sig = model_signing.model_sig(signer, node, name)
        if sig is not None:
            attach_bundle(repo, subject, mt.MODEL_SIGNING_ARTIFACT, sig,
                          {PREDICATE_ANNOTATION: model_signing.PREDICATE}, written)
    return desc


def attach_bundle(repo: Storage, subject: Descriptor, artifact_type: str, bundle: bytes,
                  annotations: dict[str, str], written: list[Descriptor] | None = None) -> Descriptor:
    """Push `bundle` as a referrer of `subject` (and list it in the fallback index if need be), as
    cosign 3 stores signatures and attestations.

    Args:
        repo: where the subject lives.
        subject: the manifest the bundle is about.
        artifact_type: the referrer manifest's artifactType.
        bundle: the sigstore bundle's bytes (the one layer).
        annotations: the referrer manifest's annotations (a created time is added).
        written: told the referrer manifest before it is pushed.

    Returns:
        The referrer manifest's descriptor.
    """
    empty = Descriptor(mediaType=mt.OCI_EMPTY, digest=digests.of_bytes(EMPTY_JSON), size=len(EMPTY_JSON))
    layer = Descriptor(mediaType=mt.SIGSTORE_BUNDLE, digest=digests.of_bytes(bundle), size=len(bundle))
    manifest = Manifest(
        artifactType=artifact_type,
        config=empty,
        layers=[layer],
        subject=Descriptor(mediaType=subject.media_type, digest=subject.digest, size=subject.size),
        annotations={**annotations, mt.A_CREATED: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    for desc, data in ((empty, EMPTY_JSON), (layer, bundle)):
        if not repo.has_blob(desc):
            repo.push_blob(desc, _bytes_opener(data))
    data = manifest.canonical_bytes()
    desc = Descriptor(mediaType=mt.OCI_MANIFEST, digest=digests.of_bytes(data), size=len(data),
                      artifactType=artifact_type, annotations=manifest.annotations)
    if written is not None:
        written.append(desc)
    if isinstance(repo, ReferrerLister):
        indexed = repo.push_referrer(desc, data)
    else:
        repo.push_manifest(desc, data)
        indexed = False
    if not indexed:
        _add_to_fallback_index(repo, subject.digest, [desc])
    return desc


def _add_to_fallback_index(repo: Storage, subject_digest: str, entries: list[Descriptor]) -> None:
    """Registries without the referrers API: list the referrers in the index tagged sha256-<hex>.

    No registry API compares and sets a tag, so two writers at once (two CI jobs attesting one model)
    each write an index without the other's entry, and the later one wins. So the tag is read back after
    a pause long against another writer's read-then-write: while it names an index without `entries`,
    the listing is merged again (what the other writer added kept). One write for all of `entries`
    (`copy` carries a model's referrers together): one pause."""
    tag = fallback_tag(subject_digest)
    wanted = {entry.digest for entry in entries}
    for _ in range(_FALLBACK_ROUNDS):
        written = _write_fallback_index(repo, tag, entries)
        time.sleep(TAG_SETTLE_SECONDS)
        current = repo.find(tag)
        if current is None or current.digest == written or wanted <= _listed(repo, current.digest):
            return
        log.info("%s was rewritten by another writer without some of %s: listing them again", tag,
                 ", ".join(sorted(wanted)))


_FALLBACK_ROUNDS = 8


def _listed(repo: Storage, index_digest: str) -> set[str]:
    node = parse_manifest(repo.fetch_manifest(index_digest)[1])
    return {m.digest for m in node.manifests} if isinstance(node, Index) else set()


def _write_fallback_index(repo: Storage, tag: str, entries: list[Descriptor]) -> str:
    """Tag an index of what `tag` lists now plus `entries`; returns its digest."""
    manifests: list[Descriptor] = []
    current = repo.find(tag)
    if current is not None:
        node = parse_manifest(repo.fetch_manifest(current.digest)[1])
        if isinstance(node, Index):
            ours = {entry.digest for entry in entries}
            manifests = [m for m in node.manifests if m.digest not in ours]
    index = Index(manifests=[*manifests, *entries])
    data = index.canonical_bytes()
    digest = digests.of_bytes(data)
    repo.push_manifest(Descriptor(mediaType=mt.OCI_INDEX, digest=digest, size=len(data)), data, tag)
    return digest


def verify_signatures(repo: Storage, subject_digest: str, public: PublicKey,
                      required: dict[str, str] | None = None,
                      notary: list[str] | None = None) -> list[FoundSignature]:
    """Every signature on `subject_digest` that verifies with `public` (and carries `required`
    annotations); attestations and Notary Project signatures never count. At most MAX_REFERRERS are
    walked, as cosign does.

    Args:
        repo: where the model lives.
        subject_digest: its manifest digest.
        public: the key a signature must verify with.
        required: annotations a counted signature must carry.
        notary: told the digest of each Notary Project signature found (not counted; see notary.py).

    Returns:
        The signatures that verify.

    Raises:
        VerificationError: none verifies (the reasons given, a Notary Project signature named as not counted).
    """
    verified: list[FoundSignature] = []
    reasons: list[str] = []
    notaries = notary if notary is not None else []
    unreachable: list[TransportError] = []
    for ref in reachable(lambda: referrers_or_reason(repo, subject_digest, reasons), unreachable):
        try:
            manifest = signature_manifest(repo, ref.digest)
            if manifest.artifact_type != mt.SIGSTORE_BUNDLE and ref.artifact_type != mt.SIGSTORE_BUNDLE:
                if is_notary(ref, manifest):
                    notaries.append(ref.digest)
                continue
            labelled = (manifest.annotations or {}).get(PREDICATE_ANNOTATION, COSIGN_PREDICATE)
            if labelled != COSIGN_PREDICATE:  # an attestation by its own label: not worth a download
                reasons.append("attestations are not signatures")
                continue
            layer = next((x for x in manifest.layers if x.media_type == mt.SIGSTORE_BUNDLE), None)
            if layer is not None:  # cosign's bundle manifests hold one bundle
                annotations = verify_bundle(signature_blob(repo, layer), public, subject_digest)
                verified.append(FoundSignature("bundle", ref.digest, annotations))
        except (VerificationError, NotFoundError) as exc:
            reasons.append(str(exc))
    verified.extend(reachable(lambda: _legacy_signatures(repo, subject_digest, public, reasons), unreachable))
    if unreachable and not _carrying(verified, required):
        raise unreachable[0]  # where the signature may be could not be asked: not "unsigned"
    if required:
        kept = _carrying(verified, required)
        if verified and not kept:  # the one reason that matters: the others are about other signatures
            raise VerificationError(f"no valid signature on {subject_digest}: {_not_carrying(verified, required)}")
        verified = kept
    if not verified:
        detail = "; ".join(sorted(set(reasons))) if reasons else "no signatures found"
        if notaries:
            detail += "; " + notary_note(len(notaries))
        raise VerificationError(f"no valid signature on {subject_digest}: {detail}")
    return verified


def _not_carrying(found: list[FoundSignature], required: dict[str, str]) -> str:
    """Why signatures that verify do not count: what was required, and what each one's signer stated."""
    def pairs(annotations: dict[str, str]) -> str:
        text = ", ".join(f"{k}={v}" for k, v in list(annotations.items())[:10])
        return (text[:300] + "...") if len(text) > 300 else text or "no annotations"

    count = "1 signature verifies" if len(found) == 1 else f"{len(found)} signatures verify"
    stated = "; ".join(pairs(s.annotations) for s in found[:5]) + ("; ..." if len(found) > 5 else "")
    return f"{count} with this key, but none carries {pairs(required)} (signed with: {stated})"


def _carrying(found: list[FoundSignature], required: dict[str, str] | None) -> list[FoundSignature]:
    """The signatures carrying every `required` annotation."""
    return [s for s in found if all(s.annotations.get(k) == v for k, v in (required or {}).items())]


def _legacy_signatures(repo: Storage, subject_digest: str, public: PublicKey,
                       reasons: list[str]) -> list[FoundSignature]:
    """The signatures in cosign's legacy `sha256-<hex>.sig` manifest that verify; why others did not
    goes to `reasons`."""
    tag = fallback_tag(subject_digest) + ".sig"
    found = []
    for layer in legacy_layers(repo, tag, SIMPLE_SIGNING, reasons):
        try:
            annotations = _verify_simple_signing(repo, layer, public, subject_digest)
            found.append(FoundSignature("legacy", tag, annotations, layer.digest))
        except VerificationError as exc:
            reasons.append(str(exc))
    return found


def _verify_simple_signing(repo: Storage, layer: Descriptor, public: PublicKey,
                           digest: str) -> dict[str, str]:
    encoded = layer.annotation(COSIGN_SIGNATURE_ANNOTATION)
    if not encoded:
        raise VerificationError("legacy signature layer without a signature annotation")
    return verify_simple_signing(signature_blob(repo, layer), encoded, public, digest)


def verify_simple_signing(payload: bytes, signature_b64: str, public: PublicKey, digest: str) -> dict[str, str]:
    """cosign's legacy format: an ECDSA (or other) signature over the simple-signing JSON payload,
    which must name `digest`. Returns the payload's `optional` annotations."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        raise VerificationError("legacy signature is not base64") from None
    # SHA-256 whatever the curve, as containers/image and `cosign verify` check; or the curve's own hash, as
    # cosign 3 signs this format with a P-384 key
    if not (verify_signature(public, signature, payload, sha256=True)
            or verify_signature(public, signature, payload)):
        raise VerificationError("signature does not verify with this key")
    try:
        body = parse_or_none(payload)
        signed = body["critical"]["image"]["docker-manifest-digest"]
        kind = body["critical"]["type"]
        optional = body.get("optional") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise VerificationError("legacy signature payload is malformed") from None
    if kind != SIMPLE_SIGNING_TYPE:  # e.g. cosign's legacy attestations: signed, but not a signature
        raise VerificationError(f"legacy payload is a {str(kind)[:100]!r}, not a {SIMPLE_SIGNING_TYPE!r}")
    if signed != digest:
        raise VerificationError(f"signature is valid but signs another digest, not {digest}")
    return {str(k): str(v) for k, v in optional.items()} if isinstance(optional, dict) else {}


def _bytes_opener(data: bytes) -> Callable[[], ByteStream]:
    return lambda: io.BytesIO(data)


def copy_referrers(src: Storage, dst: Storage, digest: str, options: CopyOptions) -> int:
    """Copy every referrer of `digest` (signatures, attestations) with its blobs, and list them in
    `dst`'s fallback index unless `dst` indexes referrers itself. Returns how many were copied. Only what
    names `digest` as its subject is one: a fallback index (or a registry) may list anything."""
    from modelpack.store.copy import copy

    found = [entry for listed in referrers(src, digest) if (entry := _referring(src, listed, digest)) is not None]
    for entry in found:
        copy(src, dst, entry.digest, None, options)
    if found and not (isinstance(dst, ReferrerLister) and dst.list_referrers(digest) is not None):
        _add_to_fallback_index(dst, digest, found)
    return len(found)


def _referring(repo: Storage, listed: Descriptor, digest: str) -> Descriptor | None:
    """`listed` (found among the referrers of `digest`), if its manifest names `digest` as its subject; one that
    does not (another model, an image) is left where it is, and said. Listed with the artifactType the referrers
    API gives it: a layout's entry (or skopeo's copy of a fallback index) may have none, and notation finds its
    signatures, whose manifests record the type in their config alone, by that field."""
    try:
        node = parse_manifest(repo.fetch_manifest(listed.digest)[1])
    except (NotFoundError, IntegrityError, UnsupportedArtifactError) as exc:
        log.warning("not copied: %s, listed as a referrer of %s (%s)", listed.digest, digest, exc)
        return None
    subject = node.subject
    if subject is None or subject.digest != digest:
        log.warning("not copied: %s, listed as a referrer of %s, names %s as its subject", listed.digest, digest,
                    subject.digest if subject else "nothing")
        return None
    if listed.artifact_type is not None:
        return listed
    return Descriptor(mediaType=listed.media_type, digest=listed.digest, size=listed.size,
                      artifactType=listed_artifact_type(node), annotations=listed.annotations)
