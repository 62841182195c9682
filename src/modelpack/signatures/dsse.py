"""DSSE envelopes over in-toto statements, and the sigstore bundle (v0.3) that carries them."""

from __future__ import annotations

import base64
import json
from typing import Any

from modelpack.errors import VerificationError
from modelpack.oci import mediatypes as mt
from modelpack.oci.jsontext import parse_or_none
from modelpack.signatures.keys import PublicKey, Signer, key_hint, verify_signature

IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
COSIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
MAX_ENVELOPE_SIGNATURES = 8


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature is computed over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(digest: str, annotations: dict[str, str] | None = None) -> bytes:
    """The in-toto statement cosign signs for an image: the manifest digest as the subject."""
    alg, _, hexd = digest.partition(":")
    body = {"_type": STATEMENT_TYPE,
            "subject": [{"digest": {alg: hexd}, "annotations": dict(annotations or {})}],
            "predicateType": COSIGN_PREDICATE, "predicate": {}}
    return json.dumps(body, separators=(",", ":")).encode()


def make_bundle(signer: Signer, digest: str, annotations: dict[str, str] | None = None) -> bytes:
    """A sigstore bundle signing `digest` as `cosign sign` does (predicate type cosign/sign/v1).

    Args:
        signer: the private key.
        digest: the manifest digest signed.
        annotations: signed with the digest, in the statement's subject.

    Returns:
        The bundle's JSON bytes.
    """
    return statement_bundle(signer, statement(digest, annotations))


def statement_bundle(signer: Signer, payload: bytes) -> bytes:
    """A sigstore bundle (v0.3) holding a DSSE envelope that signs the in-toto statement `payload`.

    Args:
        signer: the private key.
        payload: the statement's JSON bytes.

    Returns:
        The bundle's JSON bytes (key identified by cosign's public key hint).
    """
    # SHA-256 whatever the curve: `cosign verify --key` and `verify-attestation` check a P-384 bundle so
    # (and refuse the SHA-384 one cosign itself makes: sigstore/cosign#5092); verify_envelope takes both.
    signature = signer.sign(pae(IN_TOTO_PAYLOAD, payload), sha256=True)
    bundle = {
        "mediaType": mt.SIGSTORE_BUNDLE,
        "verificationMaterial": {"publicKey": {"hint": key_hint(signer.public_key)}},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": IN_TOTO_PAYLOAD,
            "signatures": [{"sig": base64.b64encode(signature).decode()}],
        },
    }
    return json.dumps(bundle, separators=(",", ":")).encode()


def verify_bundle(data: bytes, public: PublicKey, digest: str) -> dict[str, str]:
    """Check a bundle's DSSE signature with `public` and that it names `digest`; returns the subject's
    annotations. Raises VerificationError saying what did not hold."""
    return _subject_annotations(verify_envelope(bundle_envelope(data), public), digest)


def bundle_envelope(data: bytes) -> Any:
    """The DSSE envelope inside a sigstore bundle's JSON.

    Raises:
        VerificationError: not a bundle holding an envelope.
    """
    try:
        return parse_or_none(data)["dsseEnvelope"]
    except (ValueError, KeyError, TypeError):
        raise VerificationError("malformed sigstore bundle") from None


def verify_envelope(envelope: Any, public: PublicKey) -> bytes:
    """Check a DSSE envelope (parsed JSON) over an in-toto statement with `public`.

    Args:
        envelope: the envelope object (`payload`, `payloadType`, `signatures`).
        public: the public key one of its signatures must verify with.

    Returns:
        The signed payload (the statement's bytes).

    Raises:
        VerificationError: malformed, not an in-toto payload, or no signature verifies.
    """
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        payload_type = envelope["payloadType"]
        listed = envelope["signatures"]
        if len(listed) > MAX_ENVELOPE_SIGNATURES:  # cosign writes one; each costs a public-key check
            raise VerificationError(f"{len(listed)} signatures in one envelope; refusing to check them")
        signatures = [base64.b64decode(s["sig"], validate=True) for s in listed]
    except (ValueError, KeyError, TypeError):
        raise VerificationError("malformed DSSE envelope") from None
    if payload_type != IN_TOTO_PAYLOAD:
        raise VerificationError(f"envelope payload is {str(payload_type)[:100]!r}, not an in-toto statement")
    signed = pae(payload_type, payload)
    # the curve's own hash (cosign 3 and OpenSSF model_signing sign P-384 so), or SHA-256 (as we sign bundles)
    if not any(verify_signature(public, sig, signed) or verify_signature(public, sig, signed, sha256=True)
               for sig in signatures):
        raise VerificationError("signature does not verify with this key")
    return payload


def _subject_annotations(payload: bytes, digest: str) -> dict[str, str]:
    try:
        body: Any = parse_or_none(payload)
        subjects = body["subject"]
        predicate_type = body.get("predicateType")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise VerificationError("signed statement is malformed") from None
    # An attestation (provenance, SBOM, ...) signed by the same key states something about the image;
    # it is not a signature of it. Only the signed predicate type decides, not the manifest's label.
    if predicate_type != COSIGN_PREDICATE:
        raise VerificationError(f"an attestation ({str(predicate_type)[:100]!r}), not a signature")
    if body.get("_type") != STATEMENT_TYPE:
        raise VerificationError("signed payload is not an in-toto statement")
    subject = subject_naming(subjects, digest)
    if subject is None:
        raise VerificationError(f"signature is valid but signs another digest, not {digest}")
    annotations = subject.get("annotations") or {}
    return {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}


def subject_naming(subjects: Any, digest: str) -> dict[str, Any] | None:
    """The entry of a signed statement's `subject` list that names `digest`, read defensively: the
    statement's shape is its signer's (a `digest` that is a string or a list is no match, not a crash).

    Args:
        subjects: the statement's `subject` value.
        digest: `alg:hex`.

    Returns:
        The matching subject object, or None.
    """
    alg, _, hexd = digest.partition(":")
    for subject in subjects if isinstance(subjects, list) else []:
        if isinstance(subject, dict) and isinstance(subject.get("digest"), dict) and subject["digest"].get(alg) == hexd:
            return subject
    return None
