"""A registry as a model registry: versions with metadata, diff, aliases, deletion, copy, lineage."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack import advice
from modelpack.advice import Wording, compose, setting
from modelpack.api.core import TransferResult, _store, _transfer, parse_reference, read_model, reads_locally, remote
from modelpack.errors import NotFoundError, UsageError, reword
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.reference import Reference, is_tag, retarget
from modelpack.places import LayoutReference, Place, is_layout, open_layout, open_place, parse_place
from modelpack.store.layout import LayoutStore
from modelpack.store.mirrored import naming_mirrors
from modelpack.store.nearest_tag import naming_nearest_tag
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.registry_admin import repositories, tag_count
from modelpack.store.remote_routes import host_client, require_registry
from modelpack.threads import worker_pool

if TYPE_CHECKING:  # imported where used: `versions`, `model_diff` and `store.copy` (with its curl engine) cost a
    # listing's, a diff's or a copy's imports only
    from modelpack.model_diff import Diff
    from modelpack.store.copy import CopyOptions
    from modelpack.versions import Version


@closes_own_options
def list_versions(
    repository: str,
    where: Sequence[str] = (),
    sort: str | None = None,
    *,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    warn: Callable[[str], None] | None = None,
    keys: Sequence[str | Path] = (),
) -> list[Version]:
    """Every tag of a repository with its digest, version, created time, metrics and size, filtered
    and sorted. A version whose manifest or metadata is malformed is left out (or its field is), said
    once through `warn` (default: a logging warning). The tags are the origin's; only when it cannot be
    reached, a registries.conf mirror's (perhaps fewer than its origin has), said through `warn`.

    Args:
        repository: `REGISTRY/REPOSITORY` (no tag or digest; a trailing `/` is taken off), or `oci:DIR`.
        where: conditions all versions shown meet, e.g. `metrics.accuracy>=0.9`.
        sort: the field to sort by (`-` first for descending), e.g. `-metrics.accuracy`; default: newest first.
        options: how to reach the registry.
        store: the local store, which keeps each manifest read (default: MODELPACK_HOME's).
        warn: told each malformed version or field in one line.
        keys: public keys (cosign.pub) to check each version's signatures with, as `verify` does; each
            version's `signed_by` then names (as given) those that verify one.

    Returns:
        The versions (`tag`, `digest`, `size`, `metadata`, `model`, `signed_by`).

    Raises:
        UsageError: the repository names a tag or digest, a condition or sort field is malformed, or a key
            cannot be read (before any request).
        NotFoundError: no such repository.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.versions import list_versions as _list

    if keys:  # the signature checks (and `cryptography`) only for `ls --key`
        from modelpack.signatures.key_status import verified_by
        from modelpack.signatures.keys import load_public_key

    if isinstance(repository, str) and not is_layout(repository):
        repository = repository.rstrip("/") or repository  # `ls REPO/`: no repository name ends in `/`
    place = parse_place(repository)
    if isinstance(place, Reference):
        require_registry(place)  # first: `team/iris:1.0` lacks its registry before it has a tag too many
        named = Reference.parse(str(repository), default_tag=None) if isinstance(repository, str) else place
        if named.tag or named.digest:  # it was silently ignored: the listing looked like an answer about it
            raise UsageError(f"{repository}: ls lists every version of a repository; name the repository "
                             f"alone ({place.name}), or use inspect for one version")
    public = [(str(path), load_public_key(Path(path))) for path in keys]  # a bad key: refused first
    repo = open_layout(place) if isinstance(place, LayoutReference) else remote(place, options, mirrors=True)
    versions = _list(repo, _store(store), list(where), sort, warn=warn)
    if public:
        digests = list(dict.fromkeys(v.digest for v in versions))
        with worker_pool(8, "ls-signatures") as pool:
            signed = dict(zip(digests, pool.map(lambda d: verified_by(repo, d, public)[0], digests), strict=True))
        versions = [replace(v, signed_by=signed[v.digest]) for v in versions]
    return versions


@closes_own_options
def resolve(reference: str | Place, *, options: ClientOptions | None = None) -> Descriptor:
    """The manifest descriptor a reference names in its registry (one HEAD request) or OCI layout.

    Args:
        reference: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        options: how to reach the registry.

    Returns:
        The descriptor (media type, digest, size) of what the reference names.

    Raises:
        InvalidReferenceError: the reference is malformed or names no registry.
        NotFoundError: nothing is tagged so.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    place = parse_place(reference)
    repo, version = open_place(place, options=options, mirrors=True)
    with naming_nearest_tag(repo, place):
        return repo.resolve(version or "")


@closes_own_options
def diff(
    old: str | Place,
    new: str | Place,
    *,
    remote_only: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
) -> Diff:
    """Files added, removed and changed, and metadata changes, between two versions (each read from
    the local store when it has it, else from the registry).

    Args:
        old: the version compared from: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        new: the version compared to; a bare tag (`1.1.0`) is one in `old`'s repository.
        remote_only: read both from the registry, not the local store.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        `added`, `removed` and `changed` files, and `metadata`: each field that differs, as old and new.

    Raises:
        UsageError: a reference is malformed, or names an index (compared as a model, it had every file
            "removed").
        ContainerImageError: a reference names a container image (a modelcar, a serving image): the message
            names the model it was built from, when the image records it.
        NotFoundError: a version does not exist.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.model_diff import diff_models

    local_store = _store(store)
    new = _beside(old, new)
    models, from_store = [], []
    for side in (old, new):
        local = reads_locally(parse_place(side), local_store, remote_only)
        models.append(read_model(side, local_store, options, not local).one_model(side, "diff"))
        if local:
            from_store.append((str(side), models[-1].digest))
    result = diff_models(*models)
    result.from_store = tuple(from_store)
    return result


def _beside(old: str | Place, new: str | Place) -> str | Place:
    """`new` as `diff` reads it: a bare tag names a version in the registry repository of `old`."""
    if isinstance(new, str) and is_tag(new) and isinstance(old, str) and not old.startswith("oci:"):
        with contextlib.suppress(UsageError):
            return str(retarget(Reference.parse(old), new))
    return new


@closes_own_options
def tag_remote(source: str | Reference, *targets: str | Reference, options: ClientOptions | None = None) -> Descriptor:
    """Point tags in the registry at the manifest `source` names. A target is a full reference or a
    bare tag (same repository as `source`). Within one repository no blob moves; into another
    repository of the same registry, blobs are mounted (on another registry, they are copied).

    Args:
        source: the reference of the manifest to tag.
        targets: the new references, or bare tags.
        options: how to reach the registry.

    Returns:
        The descriptor of the manifest tagged.

    Raises:
        InvalidReferenceError: a reference is malformed.
        UsageError: no target is named, or one names no tag (or a digest).
        NotFoundError: `source` does not exist.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    src = parse_reference(source)
    if not targets:
        raise UsageError("name the new tag, e.g. champion")
    src_repo = remote(src, options)
    fetched: tuple[Descriptor, bytes] | None = None
    desc: Descriptor | None = None
    for target in targets:
        dst = retarget(src, target)
        if not dst.tag or dst.digest:
            raise UsageError(f"{target}: name the new tag, e.g. {dst.name}:prod")
        if (src.registry, src.repository) == (dst.registry, dst.repository):
            with naming_nearest_tag(src_repo, src):
                fetched = fetched or src_repo.fetch_manifest(src.version)
            src_repo.push_manifest(fetched[0], fetched[1], dst.tag)
            desc = fetched[0]
        else:
            from modelpack.store.copy import copy

            desc = copy(src_repo, remote(dst, options), src.version, dst.tag, _mount_from(src, dst)).descriptor
    assert desc is not None
    return desc


@closes_own_options
def list_repositories(registry: str, *, page_size: int = 1000, tag_counts: bool = True,
                      options: ClientOptions | None = None) -> list[Repository]:
    """The repositories of a registry (its `/v2/_catalog`), each with its number of tags.

    Args:
        registry: the registry host.
        page_size: repositories asked for per catalog page.
        tag_counts: count each repository's tags (one listing each).
        options: how to reach the registry.

    Returns:
        The repositories, each with `repository` (its path) and `tags` (its tag count, when counted).

    Raises:
        AuthenticationError: the registry refused the catalog (401, 403); the message leads with
            logging in when we asked anonymously, with the refused credentials (where they are saved,
            to log in again) when we sent some, and ends with naming a repository.
        UsageError: the registry has no catalog (404): name a repository instead.
        TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.errors import AuthenticationError

    host = registry.removeprefix("https://").removeprefix("http://").rstrip("/")
    # Through the options (given none, closes_own_options made some): closed with them.
    client = host_client(host, options or ClientOptions())
    example = setting(f"modelpack.list_versions({host + '/team/model'!r})", f"modelpack ls {host}/team/model")
    try:
        names = repositories(client, page_size)
    except AuthenticationError as exc:
        if client.auth.credentials(host) is None:
            # Anonymous and refused: logging in is the fix that applies, so it comes first.
            raise AuthenticationError(f"{host} shows its repository catalog only after a login", advice=compose(
                "{} (or name a repository, e.g. {})", advice.login(host), example)) from None
        # Credentials sent and refused (or not allowed the catalog): the refusal names its fix first.
        raise AuthenticationError(exc.wording, advice=compose("{}; or name a repository, e.g. {}", exc.advice, example)
                                  if exc.advice else compose("name a repository, e.g. {}", example)) from None
    except NotFoundError as exc:
        # The fix first, the registry's answer after it (a parenthesised aside).
        raise UsageError(f"{host} does not show its repository catalog", advice=Wording(
            f"name a repository instead, e.g. {example.api} ({exc})",
            f"name a repository instead, e.g. {example.cli} ({exc})")) from None

    with worker_pool(8) as pool:
        counts = list(pool.map(lambda name: tag_count(client, name), names)) if tag_counts else [None] * len(names)
    return [Repository(name, tags) for name, tags in zip(names, counts, strict=True)]


@dataclass
class Repository:
    """A repository of a registry's catalog, as `list_repositories` lists it (not a repository to read or
    write: `remote()` opens one)."""

    repository: str
    tags: int | None  # None: not counted, or the registry would not list them

    def to_json(self) -> dict[str, Any]:
        return {"repository": self.repository, "tags": self.tags}


def _mount_from(src: Reference, dst: Reference, base: CopyOptions | None = None) -> CopyOptions:
    from modelpack.store.copy import CopyOptions

    options = replace(base) if base else CopyOptions()
    if src.registry == dst.registry and src.repository != dst.repository:
        options.mount_candidates = lambda blob: [src.repository]
    return options


@closes_own_options
def copy_model(
    source: str | Place,
    target: str | Place,
    *,
    from_local: bool = False,
    to_local: bool = False,
    with_referrers: bool = True,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    copy_options: CopyOptions | None = None,
    warn: Callable[[str], None] | None = None,
    carried: set[str] | None = None,
) -> TransferResult:
    """Copy a model between places: registries, the local store (`from_local`, `to_local`) and OCI
    layout directories (`oci:DIR[:TAG]`); blobs are streamed (or mounted within one registry) and its
    signatures come along: for the model, or an index and each of its manifests, its referrers (sigstore
    bundles, attestations) and cosign's `sha256-<hex>.sig`, `.att` and `.sbom` tags, merged into the ones
    the target may have (see `signatures.signature_tags`).

    Args:
        source: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        target: where to copy to: a registry reference, or `oci:DIR[:TAG]`.
        from_local: read the source from the local store, not its registry.
        to_local: also keep the copy in the local store.
        with_referrers: bring signatures and attestations along (referrers and cosign's tags).
        options: how to reach the registries.
        store: the local store (default: MODELPACK_HOME's).
        copy_options: concurrency and progress of the copy.
        warn: told, one line each, a signature tag not carried and why (default: a logging warning).
        carried: digests whose signatures were carried between the same two repositories already (tags of one
            manifest, copied by `copy_all_tags`): not walked again. The digests of the manifests copied (the
            model's, or an index's and its children's) are added.

    Returns:
        The target, the manifest's descriptor, what was copied, skipped or mounted, and (unless
        `with_referrers` is False, or its digest is in `carried`) which of cosign's signature tags were carried
        (`signature_tags`).

    Raises:
        UsageError: a place cannot be parsed, names no manifest to copy, is a layout to write in a folder of
            other files, or (`from_local`) names a model pulled in part whose absent blobs the target lacks.
        NotFoundError: the source has no such model.
        IntegrityError: content read does not match its digest.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.signatures.signature_tags import carry_signatures
    from modelpack.store.copy import CopyOptions, copy

    src_ref, dst_ref = parse_place(source), parse_place(target)
    local_store = _store(store)
    src, version = open_place(src_ref, options=options, store=local_store, local=from_local, mirrors=True)
    dst, _ = open_place(dst_ref, options=options, store=local_store, local=to_local, create=True)
    mounts = _mount_from(src_ref, dst_ref, copy_options) \
        if isinstance(src_ref, Reference) and isinstance(dst_ref, Reference) else copy_options
    with naming_mirrors(src), naming_nearest_tag(src, src_ref):
        try:
            result = copy(src, dst, version or "", dst_ref.tag, mounts)
        except NotFoundError as exc:
            if from_local and isinstance(src_ref, Reference):
                from modelpack.api.pushing import refuse_partial

                refuse_partial(local_store, src_ref, "copy")
            if isinstance(src_ref, Reference) and src_ref.tag_implied and exc.manifest == src_ref.tag:
                # A repository named alone reads as :latest; copying the whole repository is the other meaning.
                every = setting("modelpack.copy_all_tags(SRC, DST)", "--all-tags")
                raise reword(exc, exc.wording, compose("{}; or copy every tag with {}", exc.advice, every)
                             if exc.advice else compose("copy every tag with {}", every)) from None
            raise
        digest = result.descriptor.digest
        referrers, tags = carry_signatures(src, dst, result, mounts or CopyOptions(), warn) \
            if with_referrers and digest not in (carried or ()) else (0, {})
        if carried is not None:
            carried.update(result.manifests)  # (an index's children: their signatures came with it)
    transfer = _transfer(dst_ref, result)
    transfer.signature_tags, transfer.referrers = tags, referrers
    return transfer
