"""The ML-BOM of a model version (CycloneDX 1.6): the API behind `sbom`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack.places import Place, parse_place
from modelpack.store.options import ClientOptions, closes_own_options

if TYPE_CHECKING:
    from modelpack.api.attesting import AttestResult
    from modelpack.store.layout import LayoutStore


@dataclass
class BomResult:
    reference: Place
    digest: str
    document: dict[str, Any]
    attestation: AttestResult | None = None


@closes_own_options
def sbom(
    reference: str | Place,
    *,
    key: str | Path | None = None,
    password: bytes | None = None,
    local: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
) -> BomResult:
    """A CycloneDX 1.6 ML-BOM for the model a place names (read from the registry, the local store with
    `local`, or `oci:DIR`), validated against the schema; with `key`, also signed and attached as a
    `cyclonedx` attestation (`cosign verify-attestation --type cyclonedx` finds it).

    Args:
        reference: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        key: the private key to attach the BOM with (None: only build it).
        password: the key's password (None for an unencrypted key).
        local: read (and attach to) the model in the local store.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        The digest described, the BOM, and the attestation when one was attached.

    Raises:
        NotFoundError: no such model there.
        UsageError: an index, a bad key, or cyclonedx-python-lib not installed.
        IntegrityError: the model records more datasets than a BOM lists (`mlbom.MAX_DATASETS`).
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.api.attesting import attest
    from modelpack.api.core import NOT_LOCAL, inspect_fetched
    from modelpack.mlbom import ml_bom

    place = parse_place(reference)
    info = inspect_fetched(place, remote_only=not local, options=options, store=store,
                           read_remote_by=NOT_LOCAL)[0]
    document = ml_bom(info, place.name)
    attached = None
    if key is not None:
        pinned = place.with_digest(info.digest)
        attached = attest(pinned, key, password, document, "cyclonedx", local=local, options=options, store=store)
    return BomResult(place, info.digest, document, attached)
