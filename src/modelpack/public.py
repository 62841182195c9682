"""The one list of public names: what `modelpack` exports (lazily, from `modelpack.api` and a few
modules) and what `dir(modelpack)` and tab completion show. tests/unit/test_unit_public.py checks it
against what `modelpack.api` actually defines, so the two cannot drift."""

from __future__ import annotations

# Verbs and result types, all from modelpack.api.
API_NAMES: tuple[str, ...] = (
    "AttestResult", "BomResult", "Client", "DEFAULT_MODELCAR_BASE", "DEFAULT_SERVE_BASE", "FileInfo", "InitResult",
    "Inspection", "ListedModel", "ModelInfo", "PackResult", "Removal", "Repository", "SignResult", "TransferResult",
    "VerifyAttestationResult", "VerifyResult",
    "absent_layers", "attach", "attest", "build_image", "check_store", "copy_model", "describe", "diff", "gc_store",
    "generate_key_pair", "init_metadata", "inspect",
    "kubernetes", "lineage", "list_models", "list_repositories", "list_versions", "login", "logout", "pack",
    "parse_reference", "pull", "push", "remote", "remove", "remove_remote", "resolve", "sbom", "serve_model", "sign",
    "tag", "tag_remote", "unpack", "verify", "verify_attestation",
)

# Types from elsewhere: name -> module.
OTHER_NAMES: dict[str, str] = {
    "ClientOptions": "modelpack.store.client",
    "LayoutStore": "modelpack.store.layout",
    "Reference": "modelpack.oci.reference",
    "LayoutReference": "modelpack.places",
    "ModelpackError": "modelpack.errors",
    "LayerSelection": "modelpack.selection",
}
