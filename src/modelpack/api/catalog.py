"""A registry as a model registry: versions with metadata, diff, aliases, deletion, copy, lineage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from modelpack.api.core import TransferResult, _store, _transfer, inspect, parse_reference, remote
from modelpack.errors import UsageError
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.reference import Reference
from modelpack.store.client import ClientOptions
from modelpack.store.copy import CopyOptions, copy
from modelpack.store.layout import LayoutStore


def list_versions(
    repository: str,
    where: Sequence[str] = (),
    sort: str | None = None,
    *,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
) -> list[Any]:
    """Every tag of a repository with its digest, version, created time, metrics and size, filtered
    by `where` (`metrics.accuracy>=0.9`, ...) and sorted by `sort` (`-metrics.accuracy`)."""
    from modelpack.versions import list_versions as _list

    ref = parse_reference(repository)
    return _list(remote(ref, options), _store(store), list(where), sort)


def resolve(reference: str | Reference, *, options: ClientOptions | None = None) -> Descriptor:
    """The manifest descriptor a reference names in its registry (one HEAD request)."""
    ref = parse_reference(reference)
    return remote(ref, options).resolve(ref.version)


def diff(
    old: str | Reference,
    new: str | Reference,
    *,
    remote_only: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
) -> Any:
    """Files added, removed and changed, and metadata changes, between two versions (each read from
    the local store when it has it, else from the registry)."""
    from modelpack.diff import diff_models

    def read(reference: str | Reference) -> dict[str, Any]:
        ref = parse_reference(reference)
        local = not remote_only and _store(store).find(ref) is not None
        return inspect(ref, remote_only=not local, options=options, store=store).to_json()

    return diff_models(read(old), read(new))


def tag_remote(source: str | Reference, target: str | Reference, *, options: ClientOptions | None = None) -> Descriptor:
    """Point a tag in the registry at the manifest `source` names. Within one repository no blob
    moves; into another repository of the same registry, blobs are mounted."""
    src, dst = parse_reference(source), parse_reference(target)
    if not dst.tag or dst.digest:
        raise UsageError(f"{target}: name the new tag, e.g. {dst.name}:prod")
    src_repo = remote(src, options)
    if (src.registry, src.repository) == (dst.registry, dst.repository):
        desc, data = src_repo.fetch_manifest(src.version)
        src_repo.put_manifest(desc, data, dst.tag)
        return desc
    result = copy(src_repo, remote(dst, options), src.version, dst.tag, _mount_from(src, dst))
    return result.descriptor


def remove_remote(reference: str | Reference, *, options: ClientOptions | None = None) -> str:
    """Delete a manifest from the registry (with every tag on it), where the registry allows it."""
    from modelpack.errors import RegistryError

    ref = parse_reference(reference)
    repo = remote(ref, options)
    digest = repo.resolve(ref.version).digest
    try:
        repo.delete_manifest(digest)
    except RegistryError as exc:
        if exc.status == 405 or "UNSUPPORTED" in exc.codes:
            raise RegistryError(f"{ref.registry} does not allow deleting manifests", exc.status, exc.codes) from None
        raise
    return digest


def _mount_from(src: Reference, dst: Reference, base: CopyOptions | None = None) -> CopyOptions:
    options = replace(base) if base else CopyOptions()
    if src.registry == dst.registry and src.repository != dst.repository:
        options.mount_candidates = lambda blob: [src.repository]
    return options


def copy_model(
    source: str | Reference,
    target: str | Reference,
    *,
    from_local: bool = False,
    to_local: bool = False,
    with_referrers: bool = True,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    copy_options: CopyOptions | None = None,
) -> TransferResult:
    """Copy a model between registries, or between the local store and a registry, blobs streamed
    (or mounted within one registry); its referrers (signatures, attestations) come along."""
    from modelpack.sign.referrers import copy_referrers

    src_ref, dst_ref = parse_reference(source), parse_reference(target)
    local_store = _store(store)
    src: Any = local_store.repository(src_ref.name) if from_local else remote(src_ref, options)
    dst: Any = local_store.repository(dst_ref.name) if to_local else remote(dst_ref, options)
    result = copy(src, dst, src_ref.version, dst_ref.tag, _mount_from(src_ref, dst_ref, copy_options))
    if with_referrers and not from_local and not to_local:
        copy_referrers(src, dst, result.descriptor.digest, _mount_from(src_ref, dst_ref, copy_options))
    return _transfer(dst_ref, result)
