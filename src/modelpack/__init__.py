"""modelpack: ML models as CNCF ModelPack OCI artifacts.

The public API (`pack`, `push`, `pull`, `unpack`, `inspect`, `list_models`, `tag`, `remove`, `login`,
`logout`, ..., and `Client`) lives in `modelpack.api` and is re-exported here lazily, so importing the
package is cheap; `modelpack.public` lists every public name once.

The `modelpack` command imports this package before its entry point can catch a Ctrl-C
(modelpack.cli.entry), so it imports nothing at run time, not even `__future__`: the names, the version
and `__all__` are looked up on first use.
"""

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `python -m modelpack` imports this
if TYPE_CHECKING:  # package before the command's entry point can catch a Ctrl-C (modelpack.cli.entry)
    from typing import Any

    # What a type checker sees (`X as X`: re-exported, so `modelpack.push` keeps its signature under
    # mypy --strict); at run time each name is imported on first use.
    from modelpack.api.attaching import attach as attach
    from modelpack.api.attesting import AttestResult as AttestResult
    from modelpack.api.attesting import VerifyAttestationResult as VerifyAttestationResult
    from modelpack.api.attesting import attest as attest
    from modelpack.api.attesting import attest_provenance as attest_provenance
    from modelpack.api.attesting import verify_attestation as verify_attestation
    from modelpack.api.bom import BomResult as BomResult
    from modelpack.api.bom import sbom as sbom
    from modelpack.api.catalog import Repository as Repository
    from modelpack.api.catalog import copy_model as copy_model
    from modelpack.api.catalog import diff as diff
    from modelpack.api.catalog import list_repositories as list_repositories
    from modelpack.api.catalog import list_versions as list_versions
    from modelpack.api.catalog import resolve as resolve
    from modelpack.api.catalog import tag_remote as tag_remote
    from modelpack.api.client import Client as Client
    from modelpack.api.core import Inspection as Inspection
    from modelpack.api.core import PackResult as PackResult
    from modelpack.api.core import TransferResult as TransferResult
    from modelpack.api.core import inspect as inspect
    from modelpack.api.core import pack as pack
    from modelpack.api.core import parse_reference as parse_reference
    from modelpack.api.core import remote as remote
    from modelpack.api.deploy import DEFAULT_MODELCAR_BASE as DEFAULT_MODELCAR_BASE
    from modelpack.api.deploy import DEFAULT_SERVE_BASE as DEFAULT_SERVE_BASE
    from modelpack.api.deploy import build_image as build_image
    from modelpack.api.deployment_yaml import kubernetes as kubernetes
    from modelpack.api.describing import describe as describe
    from modelpack.api.lineage_reading import lineage as lineage
    from modelpack.api.local_models import ListedModel as ListedModel
    from modelpack.api.local_models import list_models as list_models
    from modelpack.api.local_models import remove as remove
    from modelpack.api.local_models import tag as tag
    from modelpack.api.pulling import pull as pull
    from modelpack.api.pushing import push as push
    from modelpack.api.registry_login import login as login
    from modelpack.api.registry_login import logout as logout
    from modelpack.api.remote_removal import Removal as Removal
    from modelpack.api.remote_removal import remove_remote as remove_remote
    from modelpack.api.reporting import build_report as build_report
    from modelpack.api.reporting import render_report as render_report
    from modelpack.api.repository_copy import copy_all_tags as copy_all_tags
    from modelpack.api.serving import serve_model as serve_model
    from modelpack.api.signing import SignResult as SignResult
    from modelpack.api.signing import VerifyResult as VerifyResult
    from modelpack.api.signing import generate_key_pair as generate_key_pair
    from modelpack.api.signing import sign as sign
    from modelpack.api.signing import verify as verify
    from modelpack.api.store import check_store as check_store
    from modelpack.api.store import gc_store as gc_store
    from modelpack.api.store_unpack import absent_layers as absent_layers
    from modelpack.api.store_unpack import unpack as unpack
    from modelpack.errors import ModelpackError as ModelpackError
    from modelpack.inspection.init import InitResult as InitResult
    from modelpack.inspection.init import init_metadata as init_metadata
    from modelpack.model_diff import Diff as Diff
    from modelpack.model_info import FileInfo as FileInfo
    from modelpack.model_info import ModelInfo as ModelInfo
    from modelpack.oci.reference import Reference as Reference
    from modelpack.places import LayoutReference as LayoutReference
    from modelpack.report.facts import ReportFacts as ReportFacts
    from modelpack.selection import LayerSelection as LayerSelection
    from modelpack.signatures.referrers import FoundSignature as FoundSignature
    from modelpack.store.client import ClientOptions as ClientOptions
    from modelpack.store.copy import CopyOptions as CopyOptions
    from modelpack.store.credential_types import SavedCredentials as SavedCredentials
    from modelpack.store.credentials import Credentials as Credentials
    from modelpack.store.layout import LayoutStore as LayoutStore
    from modelpack.store.prefetched import Prefetched as Prefetched
    from modelpack.versions import Version as Version

    __all__: list[str]
    __version__: str
del TYPE_CHECKING  # not a name of the package's


def __getattr__(name: str) -> "Any":
    # Imported on first use: `import modelpack` stays cheap for commands that need little of it.
    from modelpack.public import API_NAMES, OTHER_NAMES

    if name == "__all__":
        return [*API_NAMES, *OTHER_NAMES, "__version__"]
    if name == "__version__":
        from modelpack.version import __version__

        return __version__
    if name in API_NAMES:
        from modelpack import api

        return getattr(api, name)
    if name in OTHER_NAMES:
        import importlib

        return getattr(importlib.import_module(OTHER_NAMES[name]), name)
    raise AttributeError(f"module 'modelpack' has no attribute {name!r}")


def __dir__() -> "list[str]":
    return sorted({*globals(), *__getattr__("__all__")})
