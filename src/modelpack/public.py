"""The one list of public names: what `modelpack` exports (lazily, from `modelpack.api` and a few
modules) and what `dir(modelpack)` and tab completion show. tests/unit/test_unit_public.py checks it
against what `modelpack.api` actually defines, so the two cannot drift."""

from __future__ import annotations

# Verbs and result types, re-exported by `modelpack.api`: name -> the module that defines it.
API_NAMES: dict[str, str] = {
    "attach": "modelpack.api.attaching",
    "AttestResult": "modelpack.api.attesting", "VerifyAttestationResult": "modelpack.api.attesting",
    "attest": "modelpack.api.attesting", "verify_attestation": "modelpack.api.attesting",
    "attest_provenance": "modelpack.api.attesting",
    "BomResult": "modelpack.api.bom", "sbom": "modelpack.api.bom",
    "Removal": "modelpack.api.remote_removal", "remove_remote": "modelpack.api.remote_removal",
    "Repository": "modelpack.api.catalog", "copy_model": "modelpack.api.catalog",
    "diff": "modelpack.api.catalog", "list_repositories": "modelpack.api.catalog",
    "list_versions": "modelpack.api.catalog",
    "resolve": "modelpack.api.catalog", "tag_remote": "modelpack.api.catalog",
    "copy_all_tags": "modelpack.api.repository_copy",
    "Client": "modelpack.api.client",
    "Inspection": "modelpack.api.core", "PackResult": "modelpack.api.core",
    "TransferResult": "modelpack.api.core", "describe": "modelpack.api.describing", "inspect": "modelpack.api.core",
    "lineage": "modelpack.api.lineage_reading", "login": "modelpack.api.registry_login",
    "logout": "modelpack.api.registry_login", "pack": "modelpack.api.core", "parse_reference": "modelpack.api.core",
    "remote": "modelpack.api.core",
    "ListedModel": "modelpack.api.local_models", "list_models": "modelpack.api.local_models",
    "remove": "modelpack.api.local_models", "tag": "modelpack.api.local_models",
    "DEFAULT_MODELCAR_BASE": "modelpack.api.deploy", "DEFAULT_SERVE_BASE": "modelpack.api.deploy",
    "build_image": "modelpack.api.deploy", "serve_model": "modelpack.api.serving",
    "kubernetes": "modelpack.api.deployment_yaml",
    "absent_layers": "modelpack.api.store_unpack", "pull": "modelpack.api.pulling",
    "unpack": "modelpack.api.store_unpack",
    "push": "modelpack.api.pushing",
    "build_report": "modelpack.api.reporting", "render_report": "modelpack.api.reporting",
    "ReportFacts": "modelpack.report.facts",
    "SignResult": "modelpack.api.signing", "VerifyResult": "modelpack.api.signing",
    "generate_key_pair": "modelpack.api.signing", "sign": "modelpack.api.signing", "verify": "modelpack.api.signing",
    "check_store": "modelpack.api.store", "gc_store": "modelpack.api.store",
    "InitResult": "modelpack.inspection.init", "init_metadata": "modelpack.inspection.init",
    "FileInfo": "modelpack.model_info", "ModelInfo": "modelpack.model_info",
}

# Types from elsewhere: name -> module.
OTHER_NAMES: dict[str, str] = {
    "ClientOptions": "modelpack.store.client",
    "LayoutStore": "modelpack.store.layout",
    "Reference": "modelpack.oci.reference",
    "LayoutReference": "modelpack.places",
    "ModelpackError": "modelpack.errors",
    "LayerSelection": "modelpack.selection",
    "Prefetched": "modelpack.store.prefetched",
    "Version": "modelpack.versions",
    "Diff": "modelpack.model_diff",
    "Credentials": "modelpack.store.credentials",  # ClientOptions(credentials=...), Client(credentials=...)
    "SavedCredentials": "modelpack.store.credential_types",  # what login returns
    "CopyOptions": "modelpack.store.copy",  # the copy_options of pack, push, pull, copy_model
    "FoundSignature": "modelpack.signatures.referrers",  # what VerifyResult.signatures holds
}
