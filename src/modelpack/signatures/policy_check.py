"""Checking a registry reference against containers-policy.json(5) before it is pulled.

`sigstoreSigned` is met, as containers/image meets it, by a cosign simple-signing signature in the
legacy layout (tag `sha256-<hex>.sig`) that verifies with one of the requirement's keys, names the
manifest digest being pulled (`critical.image.docker-manifest-digest`) and claims an identity
(`critical.identity.docker-reference`) that `signedIdentity` accepts. Sigstore bundles (cosign 3's
default layout, and `modelpack sign`'s) sign no repository name, so they do not meet it.

`reject` and requirements modelpack cannot check (`signedBy`, keyless sigstore) are refused before any
request is made.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from modelpack.errors import IntegrityError, VerificationError
from modelpack.oci import jsontext
from modelpack.oci.reference import Reference
from modelpack.signatures.keys import (
    KeyFileError,
    PublicKey,
    load_public_key,
    public_key_from_pem,
    verify_signature,
)
from modelpack.signatures.lookup import fallback_tag, legacy_layers, signature_blob
from modelpack.signatures.notary import notary_listed, notary_note
from modelpack.signatures.policy import ACCEPT, REJECT, Policy, PolicyError, PolicyVerdict, Requirement
from modelpack.signatures.policy_identity import accepts, normalized, parse_claim
from modelpack.signatures.referrers import COSIGN_SIGNATURE_ANNOTATION, SIMPLE_SIGNING
from modelpack.signatures.referrers import SIMPLE_SIGNING_TYPE as IMAGE_SIGNATURE
from modelpack.store.target import Storage


def enforce(policy: Policy | None, ref: Reference, repo: Storage) -> PolicyVerdict:
    """Check `ref` against `policy`.

    Args:
        policy: the policy in effect (None: no policy, nothing is checked).
        ref: the reference as the user named it (its tag, if any, is the identity checked).
        repo: where `ref` is read (with its mirrors): its tag is resolved and signatures read there.

    Returns:
        The verdict; with a signature requirement met, the digest verified.

    Raises:
        VerificationError: the scope rejects the reference, requires what modelpack cannot check, or
            no signature meets a signature requirement.
        PolicyError: a key the policy names cannot be read or is not a PEM public key.
    """
    if policy is None:
        return PolicyVerdict()
    scope, requirements = policy.requirements_for(ref)
    where = f"signature policy {policy.source} (scope {scope!r})"
    for requirement in requirements:
        if requirement.type == REJECT:
            raise VerificationError(f"{ref} is rejected by {where}")
        if requirement.unsupported:
            raise VerificationError(f"{ref} cannot be checked: {where} requires {requirement.unsupported}")
    signing = [r for r in requirements if r.type != ACCEPT]
    if not signing:
        return PolicyVerdict(policy.source, scope)
    digest = ref.digest or repo.resolve(ref.version).digest
    for requirement in signing:
        reasons = _unmet(requirement, ref, digest, repo, policy.source)
        if reasons:
            notary = notary_listed(repo, digest)  # notation-signed is not unsigned: said, and why it does not count
            raise VerificationError(f"{ref} is refused by {where}: no signature it accepts on {digest}: "
                                    + "; ".join(dict.fromkeys(reasons))
                                    + (f"; {notary_note(notary)}" if notary else ""))
    return PolicyVerdict(policy.source, scope, digest)


def _unmet(requirement: Requirement, ref: Reference, digest: str, repo: Storage, source: str) -> list[str]:
    """Why no signature meets `requirement` (empty: one does)."""

    try:
        keys = [public_key_from_pem(data, name) if data is not None else load_public_key(Path(name))
                for name, data in requirement.keys]
    except KeyFileError as exc:
        raise PolicyError(f"signature policy {source}: {exc}") from None
    reasons: list[str] = []
    tag = fallback_tag(digest) + ".sig"
    layers = legacy_layers(repo, tag, SIMPLE_SIGNING, reasons)
    if not layers and not reasons:
        return [f"no cosign simple-signing signature (tag {tag}); sigstoreSigned reads only those (sigstore "
                "bundles sign no repository name): sign with `modelpack sign --signature-format both` or "
                "`cosign sign --new-bundle-format=false`"]
    for layer in layers:
        try:
            payload = signature_blob(repo, layer)
            signature = base64.b64decode(layer.annotation(COSIGN_SIGNATURE_ANNOTATION) or "", validate=True)
        except (VerificationError, binascii.Error, ValueError) as exc:
            reasons.append(str(exc) or "a signature annotation that is not base64")
            continue
        if not signature or not any(verify_signature(key, signature, payload, sha256=True) for key in keys):
            other_hash = _curve_hash_signer(keys, signature, payload)
            reasons.append(f"a signature by a policy key hashed with {other_hash}, which containers/image (and so "
                           "the policy) does not accept for any curve: it checks SHA-256 only; sign again with "
                           "`modelpack sign --signature-format simple-signing` (SHA-256)" if other_hash else
                           "a signature by none of the policy's keys")
            continue
        try:
            signed_digest, claim = simple_signing_claim(payload)
        except VerificationError as exc:
            reasons.append(str(exc))
            continue
        if signed_digest != digest:
            reasons.append(f"a signature of another digest ({signed_digest[:80]})")
            continue
        claimed = parse_claim(claim)
        if claimed is None or not accepts(requirement.identity, ref, claimed):
            reasons.append(f"signed as {claim[:120]!r}, which signedIdentity {requirement.identity.describe()} "
                           f"does not accept for {ref}{_identity_hint(requirement.identity.type, ref, claimed)}")
            continue
        return []
    return reasons or ["no signature found"]


def _identity_hint(identity: str, ref: Reference, claimed: Reference | None) -> str:
    """What would accept a signature refused for the identity it names: the tag, or (a copy under another
    name: a mirror, an air-gapped site's registry) the remapIdentity the README gives, filled in."""
    if claimed is None:
        return ""
    name = normalized(ref).name
    if claimed.name == name:
        return " (a tag must be signed as that tag; cosign signs the repository: use matchRepository)" \
            if ref.tag and not claimed.tag else ""
    if identity == "remapIdentity" or len(claimed.name) > 255:
        return ""  # (the prefixes given are the user's to fix; a name past 255 characters is no repository's)
    remap = {"type": "remapIdentity", "prefix": name, "signedPrefix": claimed.name}
    return (f" (a copy of {claimed.name}: accept it with signedIdentity {json.dumps(remap)}, or sign the copy "
            f"as {ref})")


def _curve_hash_signer(keys: list[PublicKey], signature: bytes, payload: bytes) -> str | None:
    """The hash ("SHA-384", "SHA-512") a policy key's ECDSA signature verifies with when SHA-256 did not:
    cosign 3 hashes so for P-384 and P-521 keys. Named in the refusal, which is otherwise "by none of
    the policy's keys" while `verify --key` accepts the same signature."""
    for key in keys:
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size > 256 and signature \
                and verify_signature(key, signature, payload):
            return "SHA-384" if key.curve.key_size == 384 else "SHA-512"
    return None


def simple_signing_claim(payload: bytes) -> tuple[str, str]:
    """The digest and docker-reference a cosign simple-signing payload signs, read as strictly as
    containers/image reads it: `critical` holds exactly `type`, `image` and `identity`.

    Args:
        payload: the signed bytes.

    Returns:
        (critical.image.docker-manifest-digest, critical.identity.docker-reference).

    Raises:
        VerificationError: not such a payload, or not of cosign's image-signature type.
    """
    try:
        body: Any = jsontext.parse(payload, "signature payload")
    except IntegrityError as exc:
        raise VerificationError(str(exc)) from None
    critical = body.get("critical") if isinstance(body, dict) else None
    shape_ok = isinstance(body, dict) and set(body) <= {"critical", "optional"} and isinstance(critical, dict) \
        and set(critical) == {"type", "image", "identity"} and isinstance(critical["image"], dict) \
        and set(critical["image"]) == {"docker-manifest-digest"} and isinstance(critical["identity"], dict) \
        and set(critical["identity"]) == {"docker-reference"}
    if not shape_ok:
        raise VerificationError("a signature payload that is not of cosign's simple-signing shape")
    assert isinstance(critical, dict)
    if critical["type"] != IMAGE_SIGNATURE:
        raise VerificationError(f"a payload of type {str(critical['type'])[:80]!r}, not {IMAGE_SIGNATURE!r}")
    digest, claim = critical["image"]["docker-manifest-digest"], critical["identity"]["docker-reference"]
    if not isinstance(digest, str) or not isinstance(claim, str):
        raise VerificationError("a signature payload whose digest or reference is not a string")
    return digest, claim
