"""The core verbs: pack, push, pull, unpack, inspect, and the local store's list, tag, rm, login.

    import modelpack
    desc = modelpack.pack("./model", "localhost:5000/team/iris:1.0").descriptor
    modelpack.push("localhost:5000/team/iris:1.0", options=modelpack.ClientOptions(plain_http=True))
    modelpack.pull("localhost:5000/team/iris@" + desc.digest, output="./restored")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack.errors import IntegrityError, NotFoundError, UsageError
from modelpack.formats import foreign_metadata, layer_kind
from modelpack.metadata.mapping import metadata_view
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.oci.jsontext import parse_or_none
from modelpack.oci.reference import Reference, retarget
from modelpack.places import LayoutReference, Place, is_layout, open_layout, parse_place
from modelpack.store import credentials
from modelpack.store.client import ClientOptions, RegistryClient
from modelpack.store.copy import BlobPipeline, CopyOptions, CopyResult, copy
from modelpack.store.layout import LayoutStore
from modelpack.store.registry import RegistryRepository
from modelpack.unpacking import layer_path

if TYPE_CHECKING:
    from modelpack.packing.build import HashProgress, PackedLayer, PackedModel
    from modelpack.packing.hashcache import HashCache
    from modelpack.packing.select import LayerSource


@dataclass
class PackResult:
    reference: Reference
    descriptor: Descriptor
    model: PackedModel


@dataclass
class TransferResult:
    reference: Place
    descriptor: Descriptor
    copied: int  # blobs transferred
    skipped: int  # blobs the destination already had
    bytes: int
    output: Path | None = None
    files: list[str] = field(default_factory=list)
    verified_signatures: int = 0  # with `pull(verify_key=...)`: how many signatures verified


def _store(store: LayoutStore | None) -> LayoutStore:
    return store or LayoutStore()


def parse_reference(text: str | Reference) -> Reference:
    return text if isinstance(text, Reference) else Reference.parse(text)


def remote(reference: Reference, options: ClientOptions | None = None) -> RegistryRepository:
    """The registry repository a reference names."""
    reference.require_registry()
    name = reference.repository
    if reference.registry == "docker.io" and "/" not in name:
        name = f"library/{name}"
    return RegistryRepository(RegistryClient(reference.api_host, options), name)


def pack(
    model_dir: str | Path,
    reference: str | Reference,
    overrides: Sequence[str] = (),
    *,
    store: LayoutStore | None = None,
    copy_options: CopyOptions | None = None,
    options: ClientOptions | None = None,
    hash_progress: HashProgress | None = None,
) -> PackResult:
    """Pack a directory into the local store under `reference`. A `parent` or dataset that is a
    registry reference is pinned to its digest (from the local store, else the registry).
    `hash_progress` hears of the files being hashed (for a progress bar)."""
    ref = parse_reference(reference)
    model = describe(model_dir, overrides, default_name=ref.repository.rsplit("/", 1)[-1],
                     resolver=_lineage_resolver(_store(store), options), hashes=_store_hashes(store),
                     hash_progress=hash_progress)
    _check_pinned(ref, model.descriptor.digest)
    target = _store(store).repository(ref.name)
    copy(model, target, model.descriptor.digest, ref.tag, copy_options)
    return PackResult(ref.with_digest(model.descriptor.digest) if not ref.tag else ref, model.descriptor, model)


def describe(
    model_dir: str | Path,
    overrides: Sequence[str] = (),
    *,
    default_name: str | None = None,
    on_layer: Callable[[PackedLayer], None] | None = None,
    on_hashing: Callable[[LayerSource, Future[str]], None] | None = None,
    hashes: HashCache | None = None,
    resolver: Callable[[Reference], str] | None = None,
    hash_progress: HashProgress | None = None,
) -> PackedModel:
    """Describe a directory as a ModelPack artifact without storing anything. With `resolver`,
    lineage references (parent, datasets) are pinned to digests."""
    # Imported here: pydantic's metadata models cost ~50 ms to build, and pull/inspect never need them.
    from modelpack.metadata.load import load_metadata
    from modelpack.packing.build import build

    path = Path(model_dir)
    if not path.is_dir():
        raise UsageError(f"{model_dir} is not a directory")
    metadata = load_metadata(path, list(overrides), default_name=default_name or path.resolve().name)
    if resolver is not None:
        from modelpack.lineage import pin, pin_parent

        metadata = metadata.model_copy(update={
            "parent": pin_parent(metadata.parent, resolver) if metadata.parent else None,
            "datasets": [pin(d, resolver) for d in metadata.datasets],
        })
    return build(path, metadata, on_layer=on_layer, on_hashing=on_hashing, hashes=hashes or _store_hashes(None),
                 hash_progress=hash_progress)


def _lineage_resolver(local_store: LayoutStore, options: ClientOptions | None) -> Callable[[Reference], str]:
    def resolve_digest(ref: Reference) -> str:
        found = local_store.find(ref)
        return found.digest if found is not None else remote(ref, options).resolve(ref.version).digest

    return resolve_digest


def lineage(reference: str | Reference, *, options: ClientOptions | None = None,
            store: LayoutStore | None = None) -> Iterator[dict[str, Any]]:
    """The chain of `parent`s from a model back to its first ancestor, each with digest and version,
    yielded as read (at most `lineage.MAX_DEPTH`; see `lineage.chain`)."""
    from modelpack.lineage import chain

    def read(text: str) -> dict[str, Any]:
        ref = parse_reference(text)
        local = _store(store).find(ref) is not None
        return inspect(ref, remote_only=not local, options=options, store=store).to_json()

    return chain(str(parse_reference(reference)), read)


def _store_hashes(store: LayoutStore | None) -> HashCache:
    from modelpack.packing.hashcache import HashCache

    return HashCache(_store(store).root / "hash-cache.json")


def push(
    source: str | Reference | Path,
    reference: str | Place | None = None,
    overrides: Sequence[str] = (),
    *,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    copy_options: CopyOptions | None = None,
) -> TransferResult:
    """Push a model to a registry: `push(REF)` from the local store, or `push(DIR, REF)` packing the
    directory and streaming its files straight to the registry (nothing is copied into the store).
    `push(DIR, "oci:OUT[:TAG]")` packs it into an OCI layout directory instead, offline."""
    local_store = _store(store)
    if reference is not None and is_layout(reference):
        return _push_to_layout(source, parse_place(reference), overrides, local_store, options, copy_options)
    if reference is None:
        if isinstance(source, str | Path) and Path(source).is_dir():
            raise UsageError(f"push {source}: a directory needs a reference to push to (push DIR REF)")
        ref = parse_reference(source if isinstance(source, str | Reference) else str(source))
        dst = remote(ref, options)
        result = copy(local_store.repository(ref.name), dst, ref.version, ref.tag,
                      _with_mounts(copy_options, local_store, ref))
    else:
        assert not isinstance(reference, LayoutReference)  # (pushed to a layout above)
        ref = parse_reference(reference)
        if not Path(source).is_dir():  # type: ignore[arg-type]
            hint = "; to copy between registries: modelpack copy SRC DST" if not Path(source).exists() else ""  # type: ignore[arg-type]
            raise UsageError(f"{source} is not a directory{hint}")
        dst = remote(ref, options)
        result = _push_directory(Path(source), overrides, ref, dst,  # type: ignore[arg-type]
                                 _with_mounts(copy_options, local_store, ref), local_store)
    local_store.record_origin(ref.name, result.blobs)
    return _transfer(ref, result)


def _push_to_layout(source: object, place: Place, overrides: Sequence[str], local_store: LayoutStore,
                    options: ClientOptions | None, copy_options: CopyOptions | None) -> TransferResult:
    """push DIR oci:OUT[:TAG]: pack the directory into an OCI layout, offline (nothing goes to the store)."""
    assert isinstance(place, LayoutReference)
    if not (isinstance(source, str | Path) and Path(source).is_dir()):
        raise UsageError(f"{source} is not a directory; to put a stored model in a layout: "
                         f"modelpack copy REF {place} --from-local")
    layout = open_layout(place, create=True)
    model = describe(source, overrides, default_name=place.name, hashes=_store_hashes(local_store),
                     resolver=_lineage_resolver(local_store, options))
    if place.digest and place.digest != model.descriptor.digest:
        raise UsageError(f"packed digest {model.descriptor.digest} differs from the one in {place}")
    return _transfer(place, copy(model, layout, model.descriptor.digest, place.tag, copy_options))


def _push_directory(model_dir: Path, overrides: Sequence[str], ref: Reference, dst: RegistryRepository,
                    options: CopyOptions, local_store: LayoutStore) -> CopyResult:
    """Pack and push in one pipeline: each file starts uploading as soon as it is hashed, then the
    config and manifest follow through `copy()`, which skips the blobs already handled."""
    from modelpack.oci import mediatypes as media
    from modelpack.packing.build import layer_opener

    speculated: set[str] = set()

    def on_hashing(source: LayerSource, digest: Future[str]) -> None:
        # A large file starts uploading now; the registry is asked whether it has it once hashed.
        media_type = media.layer_media_type(source.kind, "raw")
        if pipeline.submit_unhashed(media_type, source.files[0].size, layer_opener(source), digest):
            speculated.add(source.relpath)

    def on_layer(layer: PackedLayer) -> None:
        if layer.source.relpath not in speculated:
            pipeline.submit(layer.descriptor, layer.open)

    with BlobPipeline(dst, options) as pipeline:
        model = describe(model_dir, overrides, default_name=ref.repository.rsplit("/", 1)[-1],
                         on_layer=on_layer, on_hashing=on_hashing, hashes=_store_hashes(local_store),
                         resolver=_lineage_resolver(local_store, dst.client.options))
    _check_pinned(ref, model.descriptor.digest)
    handled = pipeline.copied + pipeline.skipped
    result = copy(model, dst, model.descriptor.digest, ref.tag,
                  replace(options, present=frozenset(d.digest for d in handled)))
    sent = {d.digest for d in pipeline.copied} | {d.digest for d in result.copied}
    result.copied = [b for b in result.blobs if b.digest in sent]
    result.skipped = [b for b in result.blobs if b.digest not in sent]
    return result


def _check_pinned(ref: Reference, digest: str) -> None:
    """A reference written with @digest promises that digest: refuse before a manifest is stored or
    pushed under it if the packed model has another."""
    if ref.digest and ref.digest != digest:
        raise UsageError(f"packed digest {digest} differs from the one in {ref}; nothing was stored under it")


def _with_mounts(copy_options: CopyOptions | None, local_store: LayoutStore, ref: Reference) -> CopyOptions:
    """Offer the registry a cross-repository mount for blobs we know it already holds elsewhere."""
    options = replace(copy_options) if copy_options else CopyOptions()
    prefix = ref.registry + "/"

    def candidates(blob: Descriptor) -> list[str]:
        return [name[len(prefix):] for name in local_store.origins(blob.digest)
                if name.startswith(prefix) and name != ref.name]

    options.mount_candidates = candidates
    return options


def _transfer(ref: Place, result: CopyResult) -> TransferResult:
    return TransferResult(ref, result.descriptor, len(result.copied), len(result.skipped), result.bytes_copied)


@dataclass
class Inspection:
    reference: str
    descriptor: Descriptor
    manifest: Manifest | Index
    config: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        node = self.manifest
        out: dict[str, Any] = {
            "reference": self.reference,
            "digest": self.descriptor.digest,
            "mediaType": node.media_type,
            "artifactType": node.artifact_type or (node.config.media_type if isinstance(node, Manifest) else None),
            "size": self.descriptor.size,
            "annotations": dict(node.annotations or {}),
        }
        if isinstance(node, Index):
            out["manifests"] = [m.to_json() for m in node.manifests]
            out["metadata"] = metadata_view(node.annotations, None)
            out["layers"] = []
            return out
        out["config"] = node.config.to_json()
        foreign = foreign_metadata(node.config.media_type, self.config)
        out["metadata"] = {**foreign, **metadata_view(node.annotations, None if foreign else self.config)}
        out["layers"] = [
            {
                "path": layer_path(layer),
                "kind": layer_kind(layer.media_type),
                "mediaType": layer.media_type,
                "digest": layer.digest,
                "size": layer.size,
            }
            for layer in node.layers
        ]
        out["totalSize"] = sum(layer.size for layer in node.layers)
        return out


def inspect(
    reference: str | Reference,
    *,
    remote_only: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
) -> Inspection:
    """Manifest, config and metadata of a model: from the local store when it has the reference, else
    (or with `remote_only`) from the registry, fetching only the manifest and the config blob."""
    ref = parse_reference(reference)
    local_store = _store(store)
    if not remote_only:
        try:
            desc = local_store.resolve(ref)
        except NotFoundError:
            hint = " (add --remote to read it from the registry)" if ref.registry else ""
            raise NotFoundError(f"{ref} is not in the local store{hint}") from None
        else:
            node = parse_manifest(local_store.read_blob_bytes(desc))
            config = None
            if isinstance(node, Manifest) and local_store.has_blob(node.config):
                config = _config_json(node.config, local_store.read_blob_bytes(node.config))
            return Inspection(str(ref), desc, node, config)
    repo = remote(ref, options)
    desc, data = repo.fetch_manifest(ref.version)
    node = parse_manifest(data)
    config = None
    if isinstance(node, Manifest) and node.config.media_type != mt.OCI_EMPTY and node.config.size <= 4 << 20:
        config = _config_json(node.config, repo.read_small_blob(node.config))
    return Inspection(str(ref), desc, node, config)


def _config_json(desc: Descriptor, raw: bytes) -> dict[str, Any] | None:
    if not desc.media_type.endswith("json"):
        return None
    value = parse_or_none(raw)
    return value if isinstance(value, dict) else None


@dataclass
class ListedModel:
    reference: str
    digest: str
    size: int
    created: str | None
    version: str | None
    name: str | None
    artifact_type: str | None
    complete: bool = True  # False: a blob it needs is missing or corrupt (`store check` names it)


def list_models(store: LayoutStore | None = None) -> list[ListedModel]:
    """Every reference in the local store with its digest, total size and key metadata."""
    local_store = _store(store)
    out = []
    for entry in local_store.entries():
        desc = entry.descriptor
        size, annotations, artifact_type = desc.size, {}, desc.artifact_type
        try:
            node = parse_manifest(local_store.read_blob_bytes(desc))
        except (NotFoundError, IntegrityError, ValueError):
            node = None
        if isinstance(node, Manifest):
            size = node.config.size + sum(layer.size for layer in node.layers)
            annotations = node.annotations or {}
            artifact_type = node.artifact_type or node.config.media_type
        complete = node is not None and local_store.repository(entry.reference).has_manifest(desc)
        out.append(ListedModel(entry.reference, desc.digest, size, annotations.get(mt.A_CREATED),
                               annotations.get(mt.A_VERSION), annotations.get(mt.NS + "name"), artifact_type,
                               complete))
    return out


def tag(source: str | Reference, target: str | Reference, *, store: LayoutStore | None = None) -> Descriptor:
    """Give a model in the local store another reference (or a bare tag in its repository)."""
    src = parse_reference(source)
    dst = retarget(src, target)
    if not dst.tag:
        raise UsageError(f"{target}: a tag is needed to name the new reference")
    local_store = _store(store)
    desc = local_store.resolve(src)
    local_store.set_reference(dst, desc)
    return desc


def remove(reference: str | Reference, *, store: LayoutStore | None = None) -> list[str]:
    """Remove a reference from the local store and delete blobs nothing else uses."""
    return _store(store).remove_reference(parse_reference(reference))


def login(registry: str, username: str, password: str, *, options: ClientOptions | None = None) -> Path:
    """Check the credentials against the registry, then save them in the docker config."""
    host = registry.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not host or "/" in host:
        raise UsageError(f"{registry!r} is not a registry host (e.g. localhost:5000 or ghcr.io)")
    if not username or not password:
        raise UsageError("login needs a username and a password")
    credentials.check_storable(host)
    creds = credentials.Credentials(username, password)
    opts = options or ClientOptions()
    opts.credentials = creds
    client = RegistryClient("registry-1.docker.io" if host == "docker.io" else host, opts)
    client.ping()
    return credentials.store(host, creds)


def logout(registry: str) -> bool:
    host = registry.removeprefix("https://").removeprefix("http://").rstrip("/")
    return credentials.remove(host)
