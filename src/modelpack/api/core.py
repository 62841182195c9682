"""The core verbs: pack, push, pull, unpack, inspect, and the local store's list, tag, rm, login.

    import modelpack
    desc = modelpack.pack("./model", "localhost:5000/team/iris:1.0").descriptor
    modelpack.push("localhost:5000/team/iris:1.0", options=modelpack.ClientOptions(plain_http=True))
    modelpack.pull("localhost:5000/team/iris@" + desc.digest, output="./restored")
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.advice import Wording, compose, setting
from modelpack.api.describing import describe as describe
from modelpack.api.manifest_reading import config_json, entry_types
from modelpack.errors import InvalidReferenceError, ModelpackError, NotFoundError, UsageError
from modelpack.model_info import ModelInfo
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Descriptor, Index, Manifest, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.places import Place, open_place, parse_place
from modelpack.store.layout import LayoutStore
from modelpack.store.mirrored import naming_mirrors
from modelpack.store.missing_name import not_in_store
from modelpack.store.nearest_tag import naming_nearest_tag
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.prefetched import Prefetched
from modelpack.store.remote_routes import open_remote
from modelpack.store.target import RemoteRepository, read_small

if TYPE_CHECKING:
    from modelpack.metadata.load import Overrides
    from modelpack.packing.build import HashProgress, PackedModel
    from modelpack.packing.hashcache import HashCache
    from modelpack.store.copy import CopyOptions, CopyResult

log = logging.getLogger("modelpack")


@dataclass
class PackResult:
    reference: Reference
    descriptor: Descriptor
    model: PackedModel
    provenance: Path | None = None  # with `provenance=True`: the SLSA predicate kept for `attest --provenance`


@dataclass
class TransferResult:
    reference: Place
    descriptor: Descriptor
    copied: int  # blobs transferred
    skipped: int  # blobs the destination already had
    bytes: int  # bytes sent: mounted blobs cost none
    mounted: int = 0  # of `copied`, blobs the registry mounted from another of its repositories
    output: Path | None = None
    files: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # of `files`, with force: already the model's, left alone
    verified_signatures: int = 0  # with `pull(verify_key=...)`: how many signatures verified
    policy_verified: bool = False  # the signature policy's signature requirement was met (for this digest)
    provenance: Path | None = None  # with `push(DIR, REF, provenance=True)`: the SLSA predicate kept
    # with `copy_model` and `push(REF)`: cosign's `.sig`/`.att`/`.sbom` tags "copied", already "present",
    # or "left" (warned)
    signature_tags: dict[str, list[str]] = field(default_factory=dict)
    referrers: int = 0  # with `copy_model` and `push(REF)`: signatures and attestations carried as referrers
    from_store: bool = False  # with `pull`: the registry was down; the store's copy stood in (written out with -o)
    replaced: str | None = None  # with `push(DIR, REF)`: the digest REF's tag named before, when the push moved it
    # False: REF's tag named this model already, so nothing was written, not even the tag (a pull-through
    # cache answers so for a model its origin has, and takes no write at all)
    written: bool = True


def _store(store: LayoutStore | None) -> LayoutStore:
    return store or LayoutStore()


def parse_reference(text: str | Reference) -> Reference:
    """A reference as modelpack reads one (`REGISTRY/REPOSITORY[:TAG][@DIGEST]`; the tag defaults to latest).

    Args:
        text: the reference, or an already parsed one (returned as it is).

    Returns:
        The parsed reference.

    Raises:
        InvalidReferenceError: the text is not a reference.
    """
    return text if isinstance(text, Reference) else Reference.parse(text)


def parse_parameter_reference(param: str, text: str | Reference) -> Reference:
    """`parse_reference` of a reference given as an option (`--base`, `--serving-image`): a bad one is
    named by its option, before anything is fetched.

    Raises:
        InvalidReferenceError: the text is not a reference (`--serving-image 'x y': bad repository name ...`).
    """
    try:
        return parse_reference(text)
    except InvalidReferenceError as exc:
        reason = exc.failure.removeprefix(f"invalid reference {str(text)!r}: ")
        raise InvalidReferenceError(compose("{}: " + reason.replace("{", "{{").replace("}", "}}"),
                                            setting(f"{param}={str(text)!r}",
                                                    f"--{param.replace('_', '-')} {str(text)!r}")),
                                    advice=exc.advice) from None


def remote(reference: str | Reference, options: ClientOptions | None = None, *,
           mirrors: bool = False) -> RemoteRepository:
    """The registry repository a reference names, as registries.conf routes it (`location`, `blocked`,
    `insecure`; see README, Environment). The repository keeps using connections after this returns:
    given no `options`, it has options of its own, closed when you close it (`with modelpack.remote(ref)
    as repo: ...`), or else when it is garbage-collected; given yours, close yours when done.

    Args:
        reference: a reference naming a registry (text, as every other verb takes it, or parsed).
        options: how to reach registries.
        mirrors: the caller only reads (a pull): reads try the reference's registries.conf mirrors first.
            Writes always go to the origin.

    Returns:
        The repository: resolve, fetch and push manifests and blobs, list tags; `close()` it.

    Raises:
        InvalidReferenceError: the text is not a reference.
        UsageError: the reference names no registry, is blocked, or registries.conf is malformed.
        TransportError: an `insecure` registries.conf host answers neither HTTPS nor HTTP (the one request
            made here; the repository's own requests raise what the registry's answers call for).
    """
    reference = parse_reference(reference)  # (a str reached `require_registry` as an AttributeError)
    if options is not None:
        return open_remote(reference, options, mirrors=mirrors)
    own = ClientOptions()
    try:
        repo = open_remote(reference, own, mirrors=mirrors)
    except BaseException:
        own.close()
        raise
    repo.own(own)
    return repo


@closes_own_options
def pack(
    model_dir: str | Path,
    reference: str | Reference,
    overrides: Overrides = (),
    *,
    store: LayoutStore | None = None,
    copy_options: CopyOptions | None = None,
    options: ClientOptions | None = None,
    hash_progress: HashProgress | None = None,
    provenance: bool = False,
    warn: Callable[[str], None] | None = None,
) -> PackResult:
    """Pack a directory into the local store under `reference`. A `parent` or dataset that is a
    registry reference is pinned to its digest (what its registry serves; the local store only when that
    registry does not answer).

    Args:
        model_dir: the model's directory (its `modelpack.yaml`, if any, gives the metadata).
        reference: where it is stored, e.g. `registry.example.com/team/iris:1.0`.
        overrides: metadata over `modelpack.yaml`'s: `["metrics.f1=0.91"]` as `--set` takes them, or a
            mapping taken as given, `{"version": "1.1", "metrics": {"f1": 0.91}}`.
        store: the local store (default: MODELPACK_HOME's).
        copy_options: concurrency and progress of the copy into the store.
        options: how to reach a registry named by `parent` or a dataset.
        hash_progress: hears of the files being hashed (for a progress bar).
        provenance: also record a SLSA v1 provenance predicate for the digest in the local store
            (`attest --provenance` signs it; see `modelpack.provenance`).
        warn: hears of metadata the files contradict (a declared `format` no model file has), as one
            line holding file names: escape it before a terminal shows it (default: a logging warning).

    Returns:
        The stored reference (pinned to the digest when it names no tag), descriptor, model, and the
        provenance file when recorded.

    Raises:
        UsageError: not a directory, a reference pinned to another digest, or more files than a 4 MiB
            manifest can name (see `files.archives`).
        MetadataError: metadata that does not validate (the field is named).
        AuthenticationError, TransportError, RegistryError: a registry refused or could not be reached while
            pinning a `parent` or dataset the local store does not have.
    """
    ref = parse_reference(reference)
    local_store = _store(store)  # one per call: it remembers which blobs it has verified
    refuse_store_inside(local_store, model_dir)
    started = _now()
    model = describe(model_dir, overrides, default_name=ref.repository.rsplit("/", 1)[-1],
                     resolver=_lineage_resolver(local_store, options), hashes=_store_hashes(local_store),
                     hash_progress=hash_progress, warn=warn)
    _check_pinned(ref, model.descriptor.digest)
    target = local_store.repository(ref.name)
    # Imported here: the copy machinery (with its curl engine) is not needed by inspect, ls and the like.
    from modelpack.store.copy import copy

    copy(model, target, model.descriptor.digest, ref.tag, copy_options)
    recorded = record_provenance(local_store, model, model_dir, str(ref), overrides, started) if provenance else None
    return PackResult(ref.with_digest(model.descriptor.digest) if not ref.tag else ref, model.descriptor, model,
                      recorded)


def refuse_store_inside(local_store: LayoutStore, model_dir: str | Path) -> None:
    """A store inside the folder being packed (MODELPACK_HOME set to the model's folder) would be packed as
    the model's files while it changes: refused in one line naming the fix.

    Raises:
        UsageError: the store's root is `model_dir` or below it.
    """
    refuse_inside(local_store.root, model_dir, f"the local store ({local_store.root})",
                  "point MODELPACK_HOME at a folder outside the model")


def refuse_inside(place: Path, model_dir: str | Path, named: str, fix: str) -> None:
    """A place written to during the push (`named`, as the line calls it) that is the folder being packed or
    inside it: its files would be packed as the model's, then, or on the next push.

    Raises:
        UsageError: `place` is `model_dir` or below it; the line ends with `fix`.
    """
    root, folder = place.resolve(), Path(model_dir).resolve()
    if root == folder or folder in root.parents:
        raise UsageError(f"{named} is inside {model_dir}: its files would be packed as the model's; {fix}")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def record_provenance(local_store: LayoutStore, model: PackedModel, model_dir: str | Path, reference: str,
                      overrides: Overrides, started: datetime) -> Path:
    """Build the SLSA v1 provenance of a model just packed and keep it by digest in the local store."""
    from modelpack import provenance

    predicate = provenance.build_predicate(model, Path(model_dir), reference, overrides, started, _now())
    return provenance.save(local_store, model.descriptor.digest, predicate)


def _lineage_resolver(local_store: LayoutStore, options: ClientOptions | None) -> Callable[[Reference], str]:
    """Pins a lineage reference (parent, dataset) to what its registry serves under that tag: a local
    tag can be stale (`pack -t X` and later `push DIR X` leave the local X on the older digest), and a
    parent pinned to a digest its registry never had breaks `lineage` for everyone else. The local store
    answers only when the registry cannot (offline, or the parent not pushed yet), with a warning."""

    def resolve_digest(ref: Reference) -> str:
        try:
            return remote(ref, options).resolve(ref.version).digest
        except ModelpackError as exc:
            found = local_store.find(ref)
            if found is None:
                raise
            log.warning("pinned %s to the local store's %s: its registry did not answer it (%s)",
                        ref, found.digest, exc)
            return found.digest

    return resolve_digest


def read_model(reference: str | Place, local_store: LayoutStore, options: ClientOptions | None,
               remote_only: bool = False) -> ModelInfo:
    """A model's info: from the local store when it has it (and not `remote_only`), else from the
    registry; an `oci:` layout from the layout."""
    place = parse_place(reference)
    return inspect(place, remote_only=not reads_locally(place, local_store, remote_only), options=options,
                   store=local_store)


def reads_locally(place: Place, local_store: LayoutStore, remote_only: bool = False) -> bool:
    """Whether `read_model` reads `place` from the local store: a registry reference the store holds."""
    return isinstance(place, Reference) and not remote_only and local_store.find(place) is not None


def _store_hashes(store: LayoutStore | None) -> HashCache:
    from modelpack.packing.hashcache import HashCache

    return HashCache(_store(store).root / "hash-cache")  # (describe() alone: no store at hand)


def _check_pinned(ref: Reference, digest: str) -> None:
    """A reference written with @digest promises that digest: refuse before a manifest is stored or
    pushed under it if the packed model has another."""
    if ref.digest and ref.digest != digest:
        raise UsageError(f"packed digest {digest} differs from the one in {ref}; nothing was stored under it")



def _transfer(ref: Place, result: CopyResult) -> TransferResult:
    return TransferResult(ref, result.descriptor, len(result.copied), len(result.skipped), result.bytes_copied,
                          mounted=len(result.mounted), written=result.written)


Inspection = ModelInfo  # the name inspect()'s result had before it was typed
REMOTE_ONLY = setting("pass remote_only=True", "add --remote")  # how inspect reads the registry
NOT_LOCAL = setting("leave out local=True", "leave out --local")  # how report and sbom do
# And how each reads the local store instead: for a name with no registry, which only the store can hold.
LOCAL = setting("pass local=True", "add --local")  # how sign, verify, attest and sbom read the store
_READ_LOCALLY = {REMOTE_ONLY: setting("leave out remote_only=True", "leave out --remote"), NOT_LOCAL: LOCAL}


@closes_own_options
def inspect(
    reference: str | Place,
    *,
    remote_only: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
) -> ModelInfo:
    """Manifest, config and metadata of a model, fetching only the manifest and the config blob.

    Args:
        reference: a registry reference (read from the local store, or with `remote_only` from the
            registry), or an OCI layout `oci:DIR[:TAG|@DIGEST]`.
        remote_only: read a registry reference from the registry.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        The model's identity, metadata and files (`to_json()` gives the `inspect --json` document).

    Raises:
        NotFoundError: no such model there (without `remote_only`: not in the local store).
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    return inspect_fetched(reference, remote_only=remote_only, options=options, store=store)[0]


def inspect_fetched(
    reference: str | Place,
    *,
    remote_only: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    read_remote_by: Wording = REMOTE_ONLY,
) -> tuple[ModelInfo, Prefetched]:
    """`inspect`, and the manifest and config bytes it read: `pull(prefetched=...)` takes them, so a
    model checked before it is pulled is pulled as checked, without reading them twice. A reference
    not in the local store is refused saying `read_remote_by` to read it from the registry (commands
    that read the registry unless given --local say to leave that out)."""
    place = parse_place(reference)
    local = isinstance(place, Reference) and not remote_only
    repo, version = open_place(place, options=options, store=_store(store), local=local, mirrors=True,
                               local_flag=_READ_LOCALLY[read_remote_by])
    try:
        with naming_nearest_tag(repo, None if local else place):  # (the local store's tags: not listed)
            desc, data = repo.fetch_manifest(version or "")
    except NotFoundError:
        if not local or not isinstance(place, Reference):
            raise
        if not place.registry:  # a bare name: perhaps a tag of a stored model (`tag REF champion`)
            raise not_in_store(place, (e.reference for e in _store(store).entries())) from None
        raise NotFoundError(f"{place.written} is not in the local store",
                            advice=compose("{} to read it from the registry", read_remote_by)) from None
    node = parse_manifest(data)
    config, blobs = None, {}
    if isinstance(node, Manifest) and node.config.media_type != mt.OCI_EMPTY and node.config.size <= 4 << 20 \
            and (not local or repo.has_blob(node.config)):
        with naming_mirrors(repo):
            blobs[node.config.digest] = read_small(repo, node.config, MAX_MANIFEST_BYTES)
        config = config_json(node.config, blobs[node.config.digest])
    info = ModelInfo.read(str(place), desc, node, config)
    if isinstance(node, Index):
        info = info.with_entry_types(entry_types(repo, node))
    return info, Prefetched(desc, data, blobs, asked_as=version or "")
