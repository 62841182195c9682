"""The local store's own catalog: the models it holds (`list`), another name for one (`tag`), and taking
one out (`rm`). What the local store holds is read here; registries are `catalog`'s."""

from __future__ import annotations

from dataclasses import dataclass

from modelpack.api.core import _store, parse_reference
from modelpack.errors import IntegrityError, NotFoundError, UsageError
from modelpack.model_info import ModelInfo
from modelpack.oci.descriptor import Descriptor, Manifest, parse_manifest
from modelpack.oci.reference import Reference, retarget
from modelpack.store.index_file import is_fallback_tag
from modelpack.store.layout import LayoutStore


@dataclass
class ListedModel:
    reference: str
    digest: str
    size: int
    created: str | None
    version: str | None
    name: str | None
    artifact_type: str | None
    complete: bool = True  # False: a blob it needs is absent (lost, or left out by a partial pull)
    partial: bool = False  # pulled in part on purpose (--include/--exclude/--kind): the absent blobs are layers


def list_models(store: LayoutStore | None = None) -> list[ListedModel]:
    """Every reference in the local store with its digest, total size and key metadata.

    Args:
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        One entry per reference (signatures and attestations left out); `complete` is False where a blob
        is absent.

    Raises:
        IntegrityError: the store's index is corrupt (`check_store(repair=True)` keeps what still reads).
    """
    local_store = _store(store)
    out = []
    for entry in local_store.entries():
        desc = entry.descriptor
        if is_fallback_tag(entry.reference):  # where sign --local lists signatures
            continue
        size, artifact_type = desc.size, desc.artifact_type
        try:
            node = parse_manifest(local_store.read_blob_bytes(desc))
        except (NotFoundError, IntegrityError, ValueError):
            node = None
        if isinstance(node, Manifest) and node.subject is not None:  # a signature or attestation
            continue
        info = ModelInfo.read(entry.reference, desc, node, None) if node is not None else None
        if isinstance(node, Manifest):
            size = node.config.size + sum(layer.size for layer in node.layers)
            artifact_type = node.artifact_type or node.config.media_type
        complete = node is not None and local_store.repository(entry.reference).has_manifest(desc)
        partial = not complete and entry.partial and isinstance(node, Manifest) \
            and local_store.has_blob(node.config)  # (a partial model still has its config)
        out.append(ListedModel(entry.reference, desc.digest, size, info.created if info else None,
                               info.version if info else None, info.name if info else None, artifact_type,
                               complete, partial))
    return out


def tag(source: str | Reference, target: str | Reference, *, store: LayoutStore | None = None) -> Descriptor:
    """Give a model in the local store another reference.

    Args:
        source: the model's reference.
        target: the new reference, or a bare tag in the source's repository.
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        The descriptor both references now name.

    Raises:
        InvalidReferenceError: a reference is malformed.
        UsageError: `target` names no tag.
        NotFoundError: `source` is not in the local store.
    """
    src = parse_reference(source)
    dst = retarget(src, target)
    if not dst.tag:
        raise UsageError(f"{target}: a tag is needed to name the new reference")
    local_store = _store(store)
    return local_store.add_reference(src, dst)


def remove(reference: str | Reference, *, store: LayoutStore | None = None) -> list[str]:
    """Remove a reference from the local store and delete blobs nothing else uses; a manifest no name is
    left on takes its signature entries (`sign --local`'s) along.

    Args:
        reference: the reference to remove.
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        The references removed.

    Raises:
        InvalidReferenceError: the reference is malformed.
        NotFoundError: it is not in the local store.
    """
    return _store(store).remove_reference(parse_reference(reference))

