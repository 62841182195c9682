"""modelpack: ML models as CNCF ModelPack OCI artifacts.

The public API (`pack`, `push`, `pull`, `unpack`, `inspect`, `list_models`, `tag`, `remove`, `login`,
`logout`) lives in `modelpack.api` and is re-exported here lazily, so importing the package is cheap.
"""

from __future__ import annotations

from typing import Any

from modelpack.version import __version__

_API = ("pack", "push", "pull", "unpack", "inspect", "list_models", "tag", "remove", "login", "logout",
        "describe", "remote", "list_versions", "resolve", "diff", "tag_remote", "remove_remote", "copy_model",
        "generate_key_pair", "sign", "verify", "lineage", "build_image", "kubernetes", "serve_model", "check_store",
        "gc_store", "list_repositories")

__all__ = [*_API, "ClientOptions", "LayoutStore", "Reference", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from modelpack import api

        return getattr(api, name)
    if name == "ClientOptions":
        from modelpack.store.client import ClientOptions

        return ClientOptions
    if name == "LayoutStore":
        from modelpack.store.layout import LayoutStore

        return LayoutStore
    if name == "Reference":
        from modelpack.oci.reference import Reference

        return Reference
    raise AttributeError(name)
