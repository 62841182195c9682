"""Attestations (cosign-compatible): the API behind `attest` and `verify-attestation`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack.api.core import LOCAL
from modelpack.errors import UsageError
from modelpack.oci.descriptor import Descriptor
from modelpack.places import Place, open_place, parse_place, resolve_place
from modelpack.plain_json import as_json, non_finite
from modelpack.store.options import ClientOptions, closes_own_options

if TYPE_CHECKING:
    from modelpack.signatures.attestations import FoundAttestation
    from modelpack.store.layout import LayoutStore


@dataclass
class AttestResult:
    reference: Place
    digest: str
    predicate_type: str
    attestation: Descriptor


@dataclass
class VerifyAttestationResult:
    reference: Place
    digest: str
    predicate_type: str
    attestations: list[FoundAttestation]


def read_predicate(path: str | Path) -> bytes:
    """A predicate file's bytes (`-` reads standard input).

    Raises:
        UsageError: the file cannot be read, or holds more than MAX_BUNDLE_BYTES (an attestation of it would
            be more than its readers take).
    """
    from modelpack.signatures.lookup import MAX_BUNDLE_BYTES

    try:
        if str(path) == "-":
            from modelpack.standard_input import read_bytes

            data = read_bytes(MAX_BUNDLE_BYTES + 1, "the predicate")
        else:
            with Path(path).open("rb") as handle:  # (a FIFO too: `--predicate <(make-predicate)`)
                data = handle.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the predicate {path}: {exc.strerror}") from None
    if len(data) > MAX_BUNDLE_BYTES:
        shown = "on standard input" if str(path) == "-" else str(path)
        raise UsageError(f"the predicate {shown} is over {MAX_BUNDLE_BYTES} bytes: an attestation of it would be "
                         "more than a verifier of ours reads")
    return data


@closes_own_options
def attest(
    reference: str | Place,
    key: str | Path,
    password: bytes | None,
    predicate: bytes | Any,
    type_name: str = "custom",
    *,
    local: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
) -> AttestResult:
    """Sign an in-toto statement about the manifest a place names (a tag is resolved to its digest) and
    store it where `cosign verify-attestation --type T` finds it.

    Args:
        reference: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        key: the private key (cosign.key).
        password: the key's password (None for an unencrypted key).
        predicate: the predicate file's bytes (turned into a predicate as cosign does for `type_name`),
            or an already built JSON value (a dict).
        type_name: a cosign short name (`slsaprovenance1`, `cyclonedx`, `custom`, ...) or a URI.
        local: attest the model in the local store, not the registry.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        The digest attested, the predicate type URI and the attestation's descriptor.

    Raises:
        UsageError: a bad type, predicate or key.
        NotFoundError: no such model there.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.signatures import attestations, keys, predicates

    uri = predicates.predicate_type(type_name)
    body = predicates.predicate_body(type_name, predicate) if isinstance(predicate, bytes) else _built(predicate)
    signer = keys.load_private_key(Path(key), password)
    ref = parse_place(reference)
    repo, version = open_place(ref, options=options, store=store, local=local, local_flag=LOCAL)
    subject = resolve_place(ref, repo, version)
    desc = attestations.attach_attestation(repo, subject, signer, ref.name, uri, body)
    return AttestResult(ref, subject.digest, uri, desc)


def _built(predicate: Any) -> Any:
    """An already built predicate as JSON (numpy numbers and arrays converted), refused where JSON cannot hold it."""
    try:
        body = as_json(predicate, "predicate")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if (where := non_finite(body, "predicate")) is not None:
        raise UsageError(f"{where} is not a finite number (JSON has no NaN or infinity)")
    return body


@closes_own_options
def verify_attestation(
    reference: str | Place,
    key: str | Path,
    type_name: str = "custom",
    *,
    local: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
) -> VerifyAttestationResult:
    """Verify that the manifest a place names carries an attestation of the given type signed with
    `key`'s private key (modelpack's or cosign's; bundle or `.att` layout; statement v0.1 or v1).

    Args:
        reference: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        key: the public key (cosign.pub).
        type_name: a cosign short name or a URI.
        local: verify in the local store, not the registry.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        The digest, the predicate type URI and the attestations that verified (with their statements).

    Raises:
        VerificationError: none verifies (the reasons are given).
        NotFoundError: no such model there.
        UsageError: a bad type or key.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.signatures import attestations, keys, predicates

    uri = predicates.predicate_type(type_name)
    public = keys.load_public_key(Path(key))
    ref = parse_place(reference)
    # Read only: through registries.conf mirrors, as `pull` reads (digests are checked whatever host serves them).
    repo, version = open_place(ref, options=options, store=store, local=local, local_flag=LOCAL, mirrors=True)
    subject = resolve_place(ref, repo, version)
    found = attestations.verify_attestations(repo, subject.digest, public, uri)
    return VerifyAttestationResult(ref, subject.digest, uri, found)


@closes_own_options
def attest_provenance(
    reference: str | Place,
    key: str | Path,
    password: bytes | None,
    *,
    local: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
) -> AttestResult:
    """Sign the SLSA v1 provenance that `pack`/`push --provenance` recorded for the digest a place names,
    as a `slsaprovenance1` attestation (`cosign verify-attestation --type slsaprovenance1` finds it).

    Args:
        reference: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        key: the private key (cosign.key).
        password: the key's password (None for an unencrypted key).
        local: attest the model in the local store, not the registry.
        options: how to reach the registry.
        store: the local store that holds the recorded provenance (default: MODELPACK_HOME's).

    Returns:
        As `attest`.

    Raises:
        NotFoundError: no such model there, or no provenance recorded for its digest on this machine.
        UsageError: a bad key.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack import provenance
    from modelpack.store.layout import LayoutStore

    local_store = store or LayoutStore()
    ref = parse_place(reference)
    repo, version = open_place(ref, options=options, store=local_store, local=local, local_flag=LOCAL)
    digest = resolve_place(ref, repo, version).digest
    predicate = provenance.load(local_store, digest)
    return attest(ref.with_digest(digest), key, password, predicate, "slsaprovenance1", local=local,
                  options=options, store=local_store)
