"""The Python API. The CLI is a thin layer over these functions.

    import modelpack
    desc = modelpack.pack("./model", "localhost:5000/team/iris:1.0").descriptor
    modelpack.push("localhost:5000/team/iris:1.0", options=modelpack.ClientOptions(plain_http=True))
    modelpack.pull("localhost:5000/team/iris@" + desc.digest, output="./restored")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelpack.public import API_NAMES

if TYPE_CHECKING:  # what a type checker sees; at run time each name is imported on first use
    from modelpack.api.attaching import attach
    from modelpack.api.attesting import (
        AttestResult,
        VerifyAttestationResult,
        attest,
        attest_provenance,
        verify_attestation,
    )
    from modelpack.api.bom import BomResult, sbom
    from modelpack.api.catalog import (
        Removal,
        Repository,
        copy_model,
        diff,
        list_repositories,
        list_versions,
        remove_remote,
        resolve,
        tag_remote,
    )
    from modelpack.api.client import Client
    from modelpack.api.core import (
        Inspection,
        ListedModel,
        PackResult,
        TransferResult,
        describe,
        inspect,
        lineage,
        list_models,
        pack,
        parse_reference,
        remote,
        remove,
        tag,
    )
    from modelpack.api.deploy import DEFAULT_MODELCAR_BASE, DEFAULT_SERVE_BASE, build_image, serve_model
    from modelpack.api.deployment_yaml import kubernetes
    from modelpack.api.pulling import absent_layers, pull, unpack
    from modelpack.api.pushing import push
    from modelpack.api.registry_login import login, logout
    from modelpack.api.reporting import build_report, render_report
    from modelpack.api.signing import SignResult, VerifyResult, generate_key_pair, sign, verify
    from modelpack.api.store import check_store, gc_store
    from modelpack.inspection.init import InitResult, init_metadata
    from modelpack.model_info import FileInfo, ModelInfo
    from modelpack.report.facts import ReportFacts

__all__ = list(API_NAMES)


def __getattr__(name: str) -> Any:
    # A command imports only what it calls: `pull` needs neither pydantic (the metadata schema) nor
    # the signing, SBOM and image-building code, which cost ~100 ms of CPU to import.
    module = API_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'modelpack.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
