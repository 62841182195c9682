"""A repository's versions with their metadata, read from manifest annotations alone.

Manifests are immutable, so each is fetched once and kept in the local store by digest; a later
listing only re-resolves the tags (one HEAD each, concurrently).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from modelpack.metadata.mapping import metadata_view
from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.query import check_fields, parse_condition, sort_key
from modelpack.store.layout import LayoutStore
from modelpack.store.registry import RegistryRepository


@dataclass
class Version:
    tag: str
    digest: str
    size: int
    artifact_type: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What --where and --sort look at: the metadata, plus tag, digest and size."""
        return {**self.metadata, "tag": self.tag, "digest": self.digest, "size": self.size}

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "digest": self.digest, "size": self.size, "artifactType": self.artifact_type,
                "version": self.metadata.get("version"), "created": self.metadata.get("created"),
                "metrics": self.metadata.get("metrics", {}), "metadata": self.metadata}


def list_versions(repo: RegistryRepository, cache: LayoutStore, where: list[str] | tuple[str, ...] = (),
                  sort: str | None = None, workers: int = 8) -> list[Version]:
    conditions = [parse_condition(w) for w in where]
    key = sort_key(sort) if sort else None
    tags = repo.tags()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        resolved = list(pool.map(repo.find, tags))
        by_digest = {d.digest: d for d in resolved if d is not None}
        manifests = dict(zip(by_digest, pool.map(lambda d: _manifest(repo, cache, d), by_digest.values()),
                             strict=True))
    every = [_describe(tag, desc, manifests[desc.digest]) for tag, desc in zip(tags, resolved, strict=True)
             if desc is not None and not _is_signature_tag(tag)]
    records = [version.record() for version in every]
    check_fields([c.field for c in conditions if c.op != "!="], records, "--where")
    check_fields([sort.lstrip("-+")] if sort else [], records, "--sort")
    versions = [v for v, record in zip(every, records, strict=True) if all(c(record) for c in conditions)]
    if key is not None:
        function, descending = key
        versions.sort(key=lambda v: function(v.record()), reverse=descending)
    return versions


def _is_signature_tag(tag: str) -> bool:
    # sha256-<hex> (referrers fallback) and sha256-<hex>.sig/.att (cosign): signatures, not versions.
    return tag.startswith(("sha256-", "sha512-")) and len(tag) >= 71


def _manifest(repo: RegistryRepository, cache: LayoutStore, desc: Descriptor) -> Manifest | Index:
    if cache.has_blob(desc):
        return parse_manifest(cache.read_blob_bytes(desc))
    fetched, data = repo.fetch_manifest(desc.digest)
    cache.put_bytes(fetched, data)
    return parse_manifest(data)


def _describe(tag: str, desc: Descriptor, node: Manifest | Index) -> Version:
    if isinstance(node, Index):
        return Version(tag, desc.digest, desc.size, node.artifact_type, metadata_view(node.annotations, None))
    size = node.config.size + sum(layer.size for layer in node.layers)
    return Version(tag, desc.digest, size, node.artifact_type or node.config.media_type,
                   metadata_view(node.annotations, None))
