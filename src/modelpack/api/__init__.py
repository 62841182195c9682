"""The Python API. The CLI is a thin layer over these functions.

    import modelpack
    desc = modelpack.pack("./model", "localhost:5000/team/iris:1.0").descriptor
    modelpack.push("localhost:5000/team/iris:1.0", options=modelpack.ClientOptions(plain_http=True))
    modelpack.pull("localhost:5000/team/iris@" + desc.digest, output="./restored")
"""

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
from modelpack.api.core import (
    Inspection,
    ListedModel,
    PackResult,
    TransferResult,
    describe,
    inspect,
    lineage,
    list_models,
    login,
    logout,
    pack,
    parse_reference,
    push,
    remote,
    remove,
    tag,
)
from modelpack.api.deploy import DEFAULT_MODELCAR_BASE, DEFAULT_SERVE_BASE, build_image, kubernetes, serve_model
from modelpack.api.pulling import pull, unpack
from modelpack.api.signing import SignResult, VerifyResult, generate_key_pair, sign, verify
from modelpack.api.store import check_store, gc_store

__all__ = [
    "DEFAULT_MODELCAR_BASE", "DEFAULT_SERVE_BASE", "Inspection", "ListedModel", "PackResult", "Removal", "Repository",
    "SignResult", "TransferResult", "VerifyResult", "build_image", "check_store", "copy_model", "describe", "diff",
    "gc_store", "generate_key_pair", "inspect", "kubernetes", "lineage", "list_models", "list_repositories",
    "list_versions", "login", "logout", "pack", "parse_reference", "pull", "push", "remote", "remove",
    "remove_remote", "resolve", "serve_model", "sign", "tag", "tag_remote", "unpack", "verify",
]
