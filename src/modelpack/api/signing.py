"""Signing and verifying models (cosign-compatible); the API behind generate-key-pair, sign, verify."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modelpack.advice import compose, setting
from modelpack.api.core import LOCAL
from modelpack.errors import UsageError
from modelpack.oci.descriptor import Descriptor
from modelpack.places import Place, open_place, parse_place, resolve_place
from modelpack.store.options import ClientOptions, closes_own_options

if TYPE_CHECKING:
    from modelpack.signatures.referrers import FoundSignature
    from modelpack.store.layout import LayoutStore


SignatureFormat = Literal["bundle", "simple-signing", "both"]
SIGNATURE_FORMATS: tuple[SignatureFormat, ...] = ("bundle", "simple-signing", "both")


@dataclass
class SignResult:
    reference: Place
    digest: str
    signature: Descriptor  # the bundle's referrer manifest; the `.sig` manifest when only that was written
    simple_signing: Descriptor | None = None  # the `sha256-<hex>.sig` manifest, when written
    identity: str | None = None  # the docker-reference the simple-signing signature names


def generate_key_pair(directory: str | Path, password: bytes, *, prefix: str = "cosign") -> tuple[Path, Path]:
    """Write `cosign.key` (encrypted as cosign does) and `cosign.pub`; refuses to overwrite.

    Args:
        directory: where to write them (made if absent).
        password: encrypts the private key.
        prefix: the files' name before `.key` and `.pub`.

    Returns:
        The private and the public key file.

    Raises:
        UsageError: either file exists already.
        OSError: the directory cannot be written.
    """
    from modelpack.signatures import keys

    folder = Path(directory)
    private, public = folder / f"{prefix}.key", folder / f"{prefix}.pub"
    for path in (private, public):
        if path.exists():
            raise UsageError(f"{path} already exists; remove it or choose another directory")
    signer = keys.generate()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(keys.encrypt_private_key(signer, password))
    public.write_bytes(keys.public_pem(signer.public_key))
    return private, public


@closes_own_options
def sign(
    reference: str | Place,
    key: str | Path,
    password: bytes | None,
    annotations: dict[str, str] | None = None,
    *,
    local: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    signature_format: SignatureFormat = "bundle",
) -> SignResult:
    """Sign the manifest a place names; a tag is resolved first, as a signature binds a digest. A
    bundle is stored where cosign 3 finds it (a referrer, listed in the `sha256-<hex>` index where the
    storage has no referrers API); `copy` and `push` carry it along. A simple-signing signature (what
    containers-policy.json's `sigstoreSigned` reads) is added to the `sha256-<hex>.sig` manifest (which
    `copy` carries too) and
    names the reference as given: `REPO:TAG` when a tag was named (as podman and skopeo sign), else
    the repository (as cosign signs).

    Args:
        reference: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        key: the private key (cosign.key).
        password: the key's password (None for an unencrypted key).
        annotations: signed along with the digest.
        local: sign the model in the local store, not the registry.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).
        signature_format: "bundle" (cosign 3's), "simple-signing" (cosign's legacy `.sig`, which
            containers/image reads) or "both".

    Returns:
        The digest signed and the signature manifests' descriptors.

    Raises:
        NotFoundError: no such model there.
        UsageError: the key cannot be read with this password; simple-signing asked for outside a
            registry, or with a `timestamp` annotation.
        VerificationError: the `.sig` tag holds no signature manifest, or 100 signatures already.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.signatures import keys, referrers

    if signature_format not in SIGNATURE_FORMATS:
        raise UsageError(compose(f"{{}}{signature_format!r}: expected one of {', '.join(SIGNATURE_FORMATS)}",
                                 setting("signature_format=", "--signature-format ")))
    ref = parse_place(reference)
    identity = _identity(ref, local) if signature_format != "bundle" else None
    signer = keys.load_private_key(Path(key), password)
    repo, version = open_place(ref, options=options, store=store, local=local, local_flag=LOCAL)
    subject = resolve_place(ref, repo, version)
    bundle = legacy = None
    if signature_format == "both":  # all or nothing, as far as the registry API allows (see both_formats)
        from modelpack.signatures.both_formats import sign_both

        assert identity is not None
        bundle, legacy = sign_both(repo, subject, identity, signer, annotations, ref.name)
    elif identity is not None:
        from modelpack.signatures.simple_signing import attach_simple_signing

        legacy = attach_simple_signing(repo, subject.digest, identity, signer, annotations)
    else:
        bundle = referrers.attach_signature(repo, subject, signer, annotations)
    signature = bundle or legacy
    assert signature is not None
    return SignResult(ref, subject.digest, signature, legacy, identity)


def _identity(ref: Place, local: bool) -> str:
    """The docker-reference a simple-signing signature of `ref` names: fully expanded as containers/image
    compares it, with the tag when one was named. Raises UsageError outside a registry: the identity is a
    registry repository (copy carries a `.sig` written there into a layout or the store, and back)."""
    from modelpack.oci.reference import Reference
    from modelpack.signatures.policy_identity import normalized

    if not isinstance(ref, Reference) or local:
        raise UsageError("simple-signing signatures are written in a registry only (they name a registry "
                         "repository): push the model, then sign its registry reference")
    named = normalized(ref.require_registry())
    return f"{named.name}:{named.tag}" if named.tag else named.name


@dataclass
class VerifyResult:
    reference: Place
    digest: str
    signatures: list[FoundSignature]  # kind, location and signed annotations of each that verified
    # Notary Project signatures found beside them: not checked, not counted (`notation verify` judges them)
    notary_signatures: list[str] = field(default_factory=list)


@closes_own_options
def verify(
    reference: str | Place,
    key: str | Path,
    annotations: dict[str, str] | None = None,
    *,
    local: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
) -> VerifyResult:
    """Verify that the manifest a place names carries a signature made with `key`'s private key
    (ours or cosign's, bundle or legacy format).

    Args:
        reference: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        key: the public key (cosign.pub).
        annotations: annotations a verified signature must carry.
        local: verify the model in the local store, not the registry.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        The digest and the signatures that verified.

    Raises:
        VerificationError: no signature verifies (the reasons are given).
        NotFoundError: no such model there.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.signatures import keys, referrers

    public = keys.load_public_key(Path(key))
    ref = parse_place(reference)
    # Read only: through registries.conf mirrors, as `pull` reads (digests are checked whatever host serves them).
    repo, version = open_place(ref, options=options, store=store, local=local, local_flag=LOCAL, mirrors=True)
    subject = resolve_place(ref, repo, version)
    notary: list[str] = []
    found = referrers.verify_signatures(repo, subject.digest, public, annotations, notary)
    return VerifyResult(ref, subject.digest, found, notary)
