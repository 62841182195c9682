"""Attestations: signed in-toto statements about a manifest (provenance, an SBOM, an evaluation), kept
apart from signatures.

Written as cosign 3's `attest` writes them: a sigstore bundle whose DSSE envelope signs the statement,
pushed as a referrer of the manifest (listed in the `sha256-<hex>` fallback index where the registry has
no referrers API), labelled with the predicate type. Read: those, and cosign's older layout (tag
`sha256-<hex>.att`, DSSE envelopes as layers of type `application/vnd.dsse.envelope.v1+json`).
Statements v0.1 and v1 are accepted. A signature (predicate type cosign/sign/v1) is never an attestation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from modelpack.advice import setting
from modelpack.errors import NotFoundError, TransportError, UsageError, VerificationError
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.jsontext import parse_or_none
from modelpack.signatures.dsse import (
    COSIGN_PREDICATE,
    STATEMENT_TYPE,
    bundle_envelope,
    statement_bundle,
    subject_naming,
    verify_envelope,
)
from modelpack.signatures.keys import PublicKey, Signer
from modelpack.signatures.lookup import (
    fallback_tag,
    legacy_layers,
    reachable,
    referrers_or_reason,
    signature_blob,
    signature_manifest,
)
from modelpack.signatures.referrers import PREDICATE_ANNOTATION, attach_bundle
from modelpack.store.target import Storage

STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
STATEMENT_TYPES = (STATEMENT_V01, STATEMENT_TYPE)
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
LEGACY_PREDICATE_ANNOTATION = "predicateType"  # on each layer of a `.att` manifest


@dataclass
class FoundAttestation:
    """An attestation that verified: where it was found and the statement it signs."""

    kind: str  # "bundle" or "legacy"
    location: str  # the referrer manifest's digest, or the `.att` tag
    statement: dict[str, Any]
    layer: str | None = None  # legacy: the digest of the layer that verified (the tag holds others)

    @property
    def predicate(self) -> Any:
        return self.statement.get("predicate")


def statement(digest: str, name: str, predicate_type: str, predicate: Any) -> bytes:
    """An in-toto statement v1 whose subject is the manifest `digest` (named `name`, its repository).

    Args:
        digest: the manifest digest, `sha256:<hex>`.
        name: the subject's name (cosign writes the repository).
        predicate_type: the predicate type URI.
        predicate: the predicate (JSON value).

    Returns:
        The statement's JSON bytes.
    """
    alg, _, hexd = digest.partition(":")
    body = {"_type": STATEMENT_TYPE, "subject": [{"name": name, "digest": {alg: hexd}}],
            "predicateType": predicate_type, "predicate": predicate}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def attach_attestation(repo: Storage, subject: Descriptor, signer: Signer, name: str, predicate_type: str,
                       predicate: Any) -> Descriptor:
    """Sign a statement about `subject` and store it where `cosign verify-attestation` looks.

    Args:
        repo: where the subject lives.
        subject: the manifest attested.
        signer: the private key.
        name: the subject's name in the statement (the repository).
        predicate_type: the predicate type URI.
        predicate: the predicate (JSON value).

    Returns:
        The attestation's referrer manifest descriptor.

    Raises:
        UsageError: `predicate_type` is the one of signatures.
    """
    if predicate_type == COSIGN_PREDICATE:
        raise UsageError(f"{COSIGN_PREDICATE} is the type of signatures",
                         advice=setting("use modelpack.sign()", "use `modelpack sign`"))
    bundle = statement_bundle(signer, statement(subject.digest, name, predicate_type, predicate))
    return attach_bundle(repo, subject, mt.SIGSTORE_BUNDLE, bundle, {
        "dev.sigstore.bundle.content": "dsse-envelope",
        PREDICATE_ANNOTATION: predicate_type,
    })


def verify_attestations(repo: Storage, subject_digest: str, public: PublicKey,
                        predicate_type: str) -> list[FoundAttestation]:
    """Every attestation of `predicate_type` on `subject_digest` that verifies with `public` (bundles
    and cosign's `.att` layout). At most MAX_REFERRERS are walked. Signatures never count.

    Args:
        repo: where the subject lives.
        subject_digest: the manifest digest.
        public: the public key.
        predicate_type: the predicate type URI wanted.

    Returns:
        The attestations that verified, with their statements.

    Raises:
        VerificationError: none verifies (the reasons are given); TooManyReferrers past the limit.
    """
    found: list[FoundAttestation] = []
    reasons: list[str] = []
    unreachable: list[TransportError] = []
    for ref in reachable(lambda: referrers_or_reason(repo, subject_digest, reasons), unreachable):
        try:
            manifest = signature_manifest(repo, ref.digest)
            if mt.SIGSTORE_BUNDLE not in (manifest.artifact_type, ref.artifact_type):
                continue
            labelled = (manifest.annotations or {}).get(PREDICATE_ANNOTATION)
            if labelled == COSIGN_PREDICATE:
                continue  # a signature, not an attestation
            layer = next((x for x in manifest.layers if x.media_type == mt.SIGSTORE_BUNDLE), None)
            if layer is None:
                continue
            verified = partial(_verified, repo, layer, public, bundle_envelope)
            if labelled is not None and labelled != predicate_type:
                reasons.append(_unwanted(verified, subject_digest, labelled))
                continue
            found.append(FoundAttestation("bundle", ref.digest,
                                          read_statement(verified(), subject_digest, predicate_type)))
        except (VerificationError, NotFoundError) as exc:
            reasons.append(str(exc))
    found.extend(reachable(lambda: _legacy_attestations(repo, subject_digest, public, predicate_type, reasons),
                           unreachable))
    if unreachable and not found:
        raise unreachable[0]  # where the attestation may be could not be asked (see lookup.reachable)
    if not found:
        detail = "; ".join(sorted(set(reasons))) if reasons else "no attestations found"
        misplaced = bool(reasons) and all(ABOUT_ANOTHER in reason for reason in reasons)
        advice = f"(attest {subject_digest} itself)" if misplaced else "(check the public key and the predicate type)"
        raise VerificationError(f"no valid {predicate_type} attestation on {subject_digest}: {detail} {advice}")
    return found


def _legacy_attestations(repo: Storage, subject_digest: str, public: PublicKey, predicate_type: str,
                         reasons: list[str]) -> list[FoundAttestation]:
    """The attestations in cosign's `sha256-<hex>.att` manifest that verify; why others did not goes
    to `reasons`."""
    tag = fallback_tag(subject_digest) + ".att"
    found = []
    for layer in legacy_layers(repo, tag, DSSE_ENVELOPE, reasons):
        labelled = layer.annotation(LEGACY_PREDICATE_ANNOTATION)
        if labelled and labelled != predicate_type:
            reasons.append(_unwanted(partial(_verified, repo, layer, public, parse_or_none), subject_digest, labelled))
            continue
        try:
            payload = _verified(repo, layer, public, parse_or_none)
            found.append(FoundAttestation("legacy", tag, read_statement(payload, subject_digest, predicate_type),
                                          layer.digest))
        except ValueError:
            reasons.append("malformed DSSE envelope")
        except VerificationError as exc:
            reasons.append(str(exc))
    return found


def read_statement(payload: bytes, digest: str, predicate_type: str) -> dict[str, Any]:
    """A verified payload, checked: an in-toto statement (v0.1 or v1) of `predicate_type` whose subject
    is `digest`.

    Args:
        payload: the signed bytes.
        digest: the manifest digest it must name.
        predicate_type: the predicate type it must have.

    Returns:
        The statement (parsed JSON).

    Raises:
        VerificationError: what did not hold.
    """
    try:
        body: Any = parse_or_none(payload)
        kind, subjects, signed_type = body.get("_type"), body["subject"], body.get("predicateType")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise VerificationError("signed statement is malformed") from None
    if kind not in STATEMENT_TYPES:
        raise VerificationError(f"signed payload is not an in-toto statement ({str(kind)[:100]!r})")
    if signed_type == COSIGN_PREDICATE:
        raise VerificationError("a signature, not an attestation")
    if subject_naming(subjects, digest) is None:  # before its type: what it is about matters first
        raise VerificationError(_another_digest(subjects, digest))
    if signed_type != predicate_type:
        raise VerificationError(f"found one of type {str(signed_type)[:100]!r} instead")
    return dict(body)


ABOUT_ANOTHER = "its statement is about"


def _another_digest(subjects: Any, digest: str) -> str:
    """Says a verified statement is about other digests than `digest`, naming (at most 3 of) them."""
    named = [f"{alg}:{value}"[:80] for subject in (subjects if isinstance(subjects, list) else [])[:3]
             if isinstance(subject, dict) and isinstance(subject.get("digest"), dict)
             for alg, value in list(subject["digest"].items())[:1]]
    about = ", ".join(map(str, named)) or "no digest"
    return f"a valid attestation, but {ABOUT_ANOTHER} {about}, not {digest} (attached to the wrong model?)"


def _verified(repo: Storage, layer: Descriptor, public: PublicKey, envelope_of: Callable[[bytes], Any]) -> bytes:
    """The payload `layer`'s envelope (`envelope_of` its bytes) signs, verified with `public`."""
    return verify_envelope(envelope_of(signature_blob(repo, layer)), public)


def _unwanted(verified: Callable[[], bytes], digest: str, labelled: str) -> str:
    """Why an attestation labelled with another predicate type is not the one asked for: the label is
    unsigned, so when its statement verifies and is about another digest, that is said (naming both);
    otherwise its labelled type."""
    try:
        body: Any = parse_or_none(verified())
        subjects = body["subject"]
    except (VerificationError, NotFoundError, ValueError, KeyError, TypeError):
        subjects = None
    if isinstance(subjects, list) and subject_naming(subjects, digest) is None:
        return _another_digest(subjects, digest)
    return f"found one of type {labelled[:100]!r} instead"
