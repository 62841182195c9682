"""A repository's versions with their metadata, read from manifest annotations alone.

Manifests are immutable, so each is fetched once and kept in the local store by digest; a later
listing only re-resolves the tags (one HEAD each, concurrently).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelpack.errors import IntegrityError, UnsupportedArtifactError
from modelpack.first_few import first_few
from modelpack.metadata.mapping import malformed_annotation
from modelpack.model_info import ModelInfo
from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.query import SORT, WHERE, check_fields, natural_key, parse_condition, sort_key
from modelpack.signatures.lookup import is_signature_tag
from modelpack.store.layout import LayoutStore
from modelpack.store.target import RepositoryStorage, TagListNote
from modelpack.threads import worker_pool


@dataclass
class Version:
    """One tag of a repository, as `list_versions` gives it: `metadata` is what the manifest's annotations
    say (version, created, metrics, ...); `model` the same as a `ModelInfo`."""

    tag: str
    digest: str
    size: int
    artifact_type: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    malformed: list[str] = field(default_factory=list)  # annotation keys left out of `metadata`
    model: ModelInfo | None = None  # the typed view (from the manifest alone: ls reads no config)
    signed_by: tuple[str, ...] | None = None  # the keys a signature verifies with (None: no key was given)

    @property
    def version(self) -> Any:
        """The version the model declares (None when it declares none), as `ls --json`'s `version`."""
        return self.metadata.get("version")

    @property
    def created(self) -> Any:
        """When it was packed, as the manifest says (None when it does not), as `ls --json`'s `created`."""
        return self.metadata.get("created")

    @property
    def metrics(self) -> dict[str, Any]:
        """Its metrics (`{}` without any), as `ls --json`'s `metrics`: what `where` and `sort` compare."""
        found = self.metadata.get("metrics")
        return found if isinstance(found, dict) else {}

    def record(self) -> dict[str, Any]:
        """What --where and --sort look at: the metadata, plus tag, digest and size."""
        return {**self.metadata, "tag": self.tag, "digest": self.digest, "size": self.size}

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "digest": self.digest, "size": self.size, "artifactType": self.artifact_type,
                "version": self.version, "created": self.created, "metrics": self.metrics, "metadata": self.metadata,
                **({"signedBy": list(self.signed_by)} if self.signed_by is not None else {})}


def list_versions(repo: RepositoryStorage, cache: LayoutStore, where: list[str] | tuple[str, ...] = (),
                  sort: str | None = None, workers: int = 8,
                  warn: Callable[[str], None] | None = None, max_tags: int | None = None) -> list[Version]:
    """The repository's versions, filtered and sorted. What a registry wrote is not trusted to be well
    formed, and one bad version does not fail the listing: a malformed manifest leaves its tags out,
    a malformed metadata annotation is left out of the version; each is said once through `warn`
    (default: a logging warning), as is a registries.conf mirror having listed the tags, not the origin
    (`TagListNote`). With `max_tags`, only the registry's first that many tags are read.
    Without `sort`, newest first (`newest_first`)."""
    conditions = [parse_condition(w) for w in where]
    key = sort_key(sort) if sort else None
    tags = repo.tags()[:max_tags] if max_tags is not None else repo.tags()
    listing = repo.tag_list_note() if isinstance(repo, TagListNote) else None
    if listing is not None:  # the list may be short: not to be taken for the origin's
        (warn or _log.warning)(listing)
    with worker_pool(workers) as pool:
        resolved = list(pool.map(repo.find, tags))
        by_digest = {d.digest: d for d in resolved if d is not None}
        manifests = dict(zip(by_digest, pool.map(lambda d: _manifest(repo, cache, d), by_digest.values()),
                             strict=True))
    every: list[Version] = []
    refused: dict[str, list[str]] = {}  # reason -> tags
    for tag, desc in zip(tags, resolved, strict=True):
        if desc is None or is_signature_tag(tag):
            continue
        node = manifests[desc.digest]
        if isinstance(node, Exception):
            refused.setdefault(str(node), []).append(tag)
            continue
        version = _describe(tag, desc, node)
        for annotation in version.malformed:
            refused.setdefault(malformed_annotation(annotation), []).append(tag)
        every.append(version)
    for reason, named in refused.items():
        (warn or _log.warning)(f"{_tag_list(named)}: {reason}")
    records = [version.record() for version in every]
    check_fields([c.field for c in conditions if c.op != "!="], records, WHERE)
    check_fields([sort.lstrip("-+")] if sort else [], records, SORT)
    versions = [v for v, record in zip(every, records, strict=True) if all(c(record) for c in conditions)]
    if key is None:
        return newest_first(versions)  # not the registry's tag order, which is its directory's
    function, descending = key
    versions.sort(key=lambda v: function(v.record()), reverse=descending)
    return versions


NEWEST_FIRST = "-created"  # the order without --sort, in `ls` and the web UI alike


def newest_first(versions: list[Version]) -> list[Version]:
    """The versions by creation time, newest first (those that record none last); within one second, the
    higher version first (`1.10` after `1.9`); aliases of one version by tag.

    Args:
        versions: as listed.

    Returns:
        A new list, in that order.
    """
    key, descending = sort_key(NEWEST_FIRST)
    by_tag = sorted(versions, key=lambda v: v.tag)
    by_version = sorted(by_tag, key=lambda v: natural_key(v.metadata.get("version")), reverse=True)
    return sorted(by_version, key=lambda v: key(v.record()), reverse=descending)  # stable: ties stay ordered


_log = logging.getLogger("modelpack.versions")


def _tag_list(tags: list[str], shown: int = 5) -> str:
    return ("tag " if len(tags) == 1 else "tags ") + first_few(tags, shown)




def _manifest(repo: RepositoryStorage, cache: LayoutStore,
              desc: Descriptor) -> Manifest | Index | IntegrityError | UnsupportedArtifactError:
    """The version's manifest, or why it cannot be read (a registry's content: one bad version is
    reported, not raised)."""
    try:
        if cache.has_blob(desc):
            return parse_manifest(cache.read_blob_bytes(desc))
        fetched, data = repo.fetch_manifest(desc.digest)
        with contextlib.suppress(OSError):  # a read-only or full store only costs fetching it again next time
            cache.put_bytes(fetched, data)
        return parse_manifest(data)
    except (IntegrityError, UnsupportedArtifactError) as exc:
        return exc


def _describe(tag: str, desc: Descriptor, node: Manifest | Index) -> Version:
    malformed: list[str] = []
    model = ModelInfo.read(tag, desc, node, None, malformed)
    if isinstance(node, Index):
        return Version(tag, desc.digest, desc.size, node.artifact_type, model.metadata, malformed, model)
    size = node.config.size + model.total_size
    return Version(tag, desc.digest, size, model.artifact_type, model.metadata, malformed, model)
