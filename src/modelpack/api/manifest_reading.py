"""What `inspect` reads beyond a manifest: the artifact types of an index's children, a config as JSON."""

from __future__ import annotations

from typing import Any

from modelpack.errors import ModelpackError
from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.oci.jsontext import parse_or_none
from modelpack.store.target import ReadableStorage

MAX_INDEX_ENTRIES_READ = 32  # an index's child manifests read by inspect to name their artifact type


def entry_types(repo: ReadableStorage, index: Index) -> dict[str, str]:
    """Digest -> artifact type (or config media type) of an index's first children that declare none,
    read from their manifests; a child that cannot be read is left out (inspect still shows it)."""
    types: dict[str, str] = {}
    for child in [c for c in index.manifests if not c.artifact_type][:MAX_INDEX_ENTRIES_READ]:
        try:
            node = parse_manifest(repo.fetch_manifest(child.digest)[1])
        except ModelpackError:
            continue
        declared = node.artifact_type or (node.config.media_type if isinstance(node, Manifest) else node.media_type)
        if declared:
            types[child.digest] = declared
    return types


def config_json(desc: Descriptor, raw: bytes) -> dict[str, Any] | None:
    """A config blob as a JSON object, or None when it is not JSON (by media type or content)."""
    if not desc.media_type.endswith("json"):
        return None
    value = parse_or_none(raw)
    return value if isinstance(value, dict) else None
