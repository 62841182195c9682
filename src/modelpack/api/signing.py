"""Signing and verifying models (cosign-compatible); the API behind generate-key-pair, sign, verify."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.errors import UsageError
from modelpack.oci.descriptor import Descriptor
from modelpack.places import Place, open_place, parse_place
from modelpack.store.options import ClientOptions, closes_own_options

if TYPE_CHECKING:
    from modelpack.signatures.referrers import FoundSignature
    from modelpack.store.layout import LayoutStore


@dataclass
class SignResult:
    reference: Place
    digest: str
    signature: Descriptor


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
) -> SignResult:
    """Sign the manifest a place names; a tag is resolved first, as a signature binds a digest. The
    signature is stored where cosign finds it (a referrer, listed in the `sha256-<hex>` index where the
    storage has no referrers API); `copy` and `push` carry it along.

    Args:
        reference: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        key: the private key (cosign.key).
        password: the key's password (None for an unencrypted key).
        annotations: signed along with the digest.
        local: sign the model in the local store, not the registry.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        The digest signed and the signature manifest's descriptor.

    Raises:
        NotFoundError: no such model there.
        UsageError: the key cannot be read with this password.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.signatures import keys, referrers

    signer = keys.load_private_key(Path(key), password)
    ref = parse_place(reference)
    repo, version = open_place(ref, options=options, store=store, local=local)
    subject = repo.resolve(version or "")
    signature = referrers.attach_signature(repo, subject, signer, annotations)
    return SignResult(ref, subject.digest, signature)


@dataclass
class VerifyResult:
    reference: Place
    digest: str
    signatures: list[FoundSignature]  # kind, location and signed annotations of each that verified


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
    repo, version = open_place(ref, options=options, store=store, local=local)
    subject = repo.resolve(version or "")
    found = referrers.verify_signatures(repo, subject.digest, public, annotations)
    return VerifyResult(ref, subject.digest, found)
