"""Sending a model to a registry (or an OCI layout): from the local store, or a directory packed and
streamed in one pipeline.

    import modelpack
    modelpack.push("./model", "localhost:5000/team/iris:1.0")      # pack and stream, nothing stored
    modelpack.push("localhost:5000/team/iris:1.0")                 # from the local store
    modelpack.push("./model", "oci:./iris-layout:1.0")             # into an OCI layout, offline
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.advice import compose, setting
from modelpack.api.core import (
    TransferResult,
    _check_pinned,
    _lineage_resolver,
    _now,
    _store,
    _store_hashes,
    _transfer,
    describe,
    parse_reference,
    record_provenance,
    refuse_inside,
    refuse_store_inside,
    remote,
)
from modelpack.api.describing import Plan, plan
from modelpack.api.push_base import sibling_manifest
from modelpack.api.unchanged_folder import FolderRecord, unchanged_push
from modelpack.errors import (
    IntegrityError,
    InvalidReferenceError,
    ModelpackError,
    NotFoundError,
    UnsupportedArtifactError,
    UsageError,
    reword,
)
from modelpack.model_folder import require_model_folder
from modelpack.oci.descriptor import Descriptor, Manifest, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.places import LayoutReference, Place, is_layout, open_layout, parse_place
from modelpack.store.copy import BlobPipeline, CopyOptions, CopyResult, copy
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.target import Storage, TagLister
from modelpack.unpacking import layer_path

# Into a repository without tags, files under this size are uploaded without a HEAD first: per small
# file that is two requests instead of three, and an unneeded upload of one costs about what a HEAD does.
UNASKED_BELOW = 1024 * 1024

if TYPE_CHECKING:
    from modelpack.metadata.load import Overrides
    from modelpack.packing.build import PackedLayer, PackedModel
    from modelpack.packing.hashcache import HashCache
    from modelpack.packing.select import LayerSource


@closes_own_options
def push(
    source: str | Reference | Path,
    reference: str | Place | None = None,
    overrides: Overrides = (),
    *,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    copy_options: CopyOptions | None = None,
    provenance: bool = False,
    warn: Callable[[str], None] | None = None,
    with_referrers: bool = True,
) -> TransferResult:
    """Push a model to a registry: `push(REF)` from the local store (with its signatures: the referrers
    `sign --local` made, and cosign's `.sig`/`.att`/`.sbom` tags, merged as `copy_model` does), or
    `push(DIR, REF)` packing the directory and streaming its files straight to the registry (nothing is
    copied into the store). `push(DIR, "oci:OUT[:TAG]")` packs it into an OCI layout
    directory instead, offline.

    Args:
        source: a reference in the local store, or a model directory.
        reference: where a directory goes (a registry reference or `oci:OUT[:TAG]`).
        overrides: metadata for a directory, as `pack` takes them (strings or a mapping).
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).
        copy_options: concurrency and progress.
        provenance: with a directory, also record a SLSA v1 provenance predicate for the digest pushed in
            the local store (`attest --provenance` signs it).
        warn: with a directory, hears of metadata the files contradict, as `pack`; from the local store,
            of a cosign signature tag not carried and why (escape it before a terminal shows it; default: a
            logging warning).
        with_referrers: from the local store, bring its signatures along (referrers, and cosign's tags);
            False pushes the model alone (a directory pushes nothing else either way).

    Returns:
        The reference pushed, its descriptor, how many blobs and bytes moved, the provenance file, and
        (from the local store) which of cosign's `.sig`/`.att`/`.sbom` tags were carried (`signature_tags`);
        (from a directory) the digest the tag named before, when the push moved it (`replaced`).

    Raises:
        UsageError: a directory without a reference, a reference that is no directory, `provenance`
            for a model already packed (it was recorded, or not, when it was packed), or a directory of
            more files than a 4 MiB manifest can name (see `files.archives`).
        NotFoundError: `push(REF)` of a model the local store does not have.
        MetadataError: a directory's metadata does not validate.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    local_store = _store(store)
    started = _now()
    if reference is not None and is_layout(reference):
        layout_place = parse_place(reference)
        model, done = _push_to_layout(source, layout_place, overrides, local_store, options, copy_options,
                                      warn)
        return _with_provenance(done, provenance, local_store, model, source, overrides, started)
    if reference is None:
        if isinstance(source, str | Path) and Path(source).is_dir():
            raise UsageError(compose("push {}: a directory needs a reference to push to ({})", str(source),
                                     setting("push(DIR, REF)", "push DIR REF")))
        if provenance:
            raise UsageError(compose("{} records how a directory is packed: use it with pack, or {}",
                                     setting("provenance=True", "--provenance"), setting("push(DIR, REF)",
                                                                                        "push DIR REF")))
        ref = parse_reference(source if isinstance(source, str | Reference) else str(source))
        dst = remote(ref, options)
        from modelpack.signatures.signature_tags import carry_signatures

        stored = local_store.repository(ref.name)
        mounts = _with_mounts(copy_options, local_store, ref)
        try:
            result = copy(stored, dst, ref.version, ref.tag, mounts)
        except NotFoundError as exc:
            refuse_partial(local_store, ref)
            _say_how_to_store(exc, local_store, ref)
            raise
        except IntegrityError:  # the registry found a blob's bytes wrong: say so if ours are (bit rot, an edit)
            _check_stored_blobs(local_store, ref)
            raise
        # signatures made with sign --local, and cosign's tags copy --to-local brought into the store
        referrers, signature_tags = carry_signatures(stored, dst, result, mounts, warn, "push") if with_referrers \
            else (0, {})
    else:
        assert not isinstance(reference, LayoutReference)  # (pushed to a layout above)
        ref = parse_reference(reference)
        return _push_folder(source, ref, overrides, local_store, options, copy_options, provenance, warn,  # type: ignore[arg-type]
                            started)
    local_store.record_origin(ref.name, result.blobs)
    transfer = _transfer(ref, result)
    transfer.signature_tags, transfer.referrers = signature_tags, referrers
    return transfer


def _push_folder(source: str | Path, ref: Reference, overrides: Overrides, local_store: LayoutStore,
                 options: ClientOptions | None, copy_options: CopyOptions | None, provenance: bool,
                 warn: Callable[[str], None] | None, started: datetime) -> TransferResult:
    """push DIR REF: pack the folder and stream it to the registry; an unchanged one only checks its tag."""
    require_model_folder(source, _copy_hint(str(source)))
    refuse_store_inside(local_store, source)
    # The folder's own mistakes (no files, modelpack.yaml not YAML, overrides that do not validate) are
    # said before the first request, not after a registry's TLS error or an unreachable host's time-out.
    planned = plan(source, overrides, default_name=ref.repository.rsplit("/", 1)[-1])
    hashes = _store_hashes(local_store)  # one for the push: the folder's record and its files' digests
    # (a fingerprint of what decides the manifest, taken before any file is read: see unchanged_folder)
    record = None if overrides or provenance or ref.digest else FolderRecord.of(planned, hashes)
    model: PackedModel | None = None
    with hashes.saves_held():  # one save: the files' digests (build's) and the folder's record
        try:
            dst = remote(ref, options)
            tagged = _tagged_manifest(dst, ref)
            result = unchanged_push(record, tagged, planned, warn)
            if result is None:
                model, result = _push_directory(Path(source), overrides, planned, ref, dst,
                                                _with_mounts(copy_options, local_store, ref), local_store,
                                                options, warn, tagged, hashes)
        except ModelpackError:
            _metadata_first(planned)
            raise
        if record is not None and model is not None:
            record.remember(model.descriptor.digest)
    local_store.record_origin(ref.name, result.blobs)
    transfer = _transfer(ref, result)
    if tagged[0] is not None and tagged[0].digest != result.descriptor.digest:  # another version had the tag
        transfer.replaced = tagged[0].digest
    return _with_provenance(transfer, provenance, local_store, model, source, overrides, started)


def _metadata_first(planned: Plan) -> None:
    """A push that failed before its metadata was validated (a registry's refusal, an unreachable host):
    validate it now, so that a mistake in modelpack.yaml is said first, as the folder's others are (it is
    validated meanwhile, not before the first request: pydantic's import would delay every push).

    Raises:
        MetadataError: the metadata does not validate.
    """
    if planned.metadata is None:
        from modelpack.metadata.load import load_metadata

        load_metadata(planned.path, (), default_name=planned.name, read=planned.read)


def _say_how_to_store(exc: NotFoundError, local_store: LayoutStore, ref: Reference) -> None:
    """`push REF` of a reference the store lacks: name the two ways to push a directory (it said only
    "REF is not in the local store", and a newcomer who has not packed yet did not learn what to do)."""
    if exc.advice is not None or ref.digest:
        return  # a bare name that is a tag of stored models keeps that hint; a digest is packed, not named
    try:
        local_store.resolve(ref)
        return  # the reference is there: something else is missing, and the error says what
    except NotFoundError:
        pass
    reword(exc, exc.wording, compose("pack a directory under it first ({}), or push the directory itself ({})",
                                     setting(f"modelpack.pack(DIR, {str(ref)!r})", f"`modelpack pack DIR -t {ref}`"),
                                     setting(f"modelpack.push(DIR, {str(ref)!r})", f"`modelpack push DIR {ref}`")))


def _copy_hint(source: str) -> str:
    """What a missing DIR of `push DIR REF` may have meant: a registry reference, for `copy SRC DST`."""
    try:
        meant_a_reference = bool(Reference.parse(source).registry)
    except InvalidReferenceError:
        meant_a_reference = False
    return "; to copy between registries: modelpack copy SRC DST" if meant_a_reference else ""


def _with_provenance(result: TransferResult, wanted: bool, local_store: LayoutStore, model: PackedModel | None,
                     source: object, overrides: Overrides, started: datetime) -> TransferResult:
    if wanted:
        assert model is not None  # (a push asked for provenance describes the folder: see push)
        result.provenance = record_provenance(local_store, model, Path(str(source)), str(result.reference),
                                              overrides, started)
    return result


def _push_to_layout(source: object, place: Place, overrides: Overrides, local_store: LayoutStore,
                    options: ClientOptions | None, copy_options: CopyOptions | None,
                    warn: Callable[[str], None] | None) -> tuple[PackedModel, TransferResult]:
    """push DIR oci:OUT[:TAG]: pack the directory into an OCI layout, offline (nothing goes to the store)."""
    assert isinstance(place, LayoutReference)
    if not (isinstance(source, str | Path) and Path(source).is_dir()):
        raise UsageError(f"{source} is not a directory", advice=compose(
            "to put a stored model in a layout: {}", setting(f"copy_model(REF, {str(place)!r}, from_local=True)",
                                                            f"modelpack copy REF {place} --from-local")))
    refuse_store_inside(local_store, source)
    # (a second push into it packed the first one's blobs and index.json as model files)
    refuse_inside(place.path, source, f"the layout {place.path}", "write it outside the model's folder")
    layout = open_layout(place, create=True)
    model = describe(source, overrides, default_name=place.name, hashes=_store_hashes(local_store),
                     resolver=_lineage_resolver(local_store, options), warn=warn)
    if place.digest and place.digest != model.descriptor.digest:
        raise UsageError(f"packed digest {model.descriptor.digest} differs from the one in {place}")
    return model, _transfer(place, copy(model, layout, model.descriptor.digest, place.tag, copy_options))


def _push_directory(model_dir: Path, overrides: Overrides, planned: Plan, ref: Reference, dst: Storage,
                    options: CopyOptions, local_store: LayoutStore, client_options: ClientOptions | None,
                    warn: Callable[[str], None] | None, tagged: tuple[Descriptor | None, Manifest | None],
                    hashes: HashCache) -> tuple[PackedModel, CopyResult]:
    """Pack and push in one pipeline: each file starts uploading as soon as it is hashed, then the
    config and manifest follow through `copy()`, which skips the blobs already handled."""
    from modelpack.api.changed_files import changed_files
    from modelpack.oci import mediatypes as media
    from modelpack.packing.build import layer_opener

    speculated: set[str] = set()
    tagged_desc, previous = tagged  # (what the tag names now: see _tagged_manifest)
    base = previous  # what the tag names now, else another tag's version: no HEAD for its blobs
    new_repository = False
    if previous is None and isinstance(dst, TagLister):
        if not dst.has_tags():  # a new repository: small files need no HEAD
            options = replace(options, unasked_below=UNASKED_BELOW)
            new_repository = True
        else:
            base = sibling_manifest(dst, ref.tag)
    if base is not None:
        options = replace(options, present=options.present | {base.config.digest} |
                          {layer.digest for layer in base.layers})
    unchanged_files = {(layer_path(layer), layer.size) for layer in base.layers} if base else set()
    base_sizes = {layer.size for layer in base.layers} if base else set()

    def on_hashing(source: LayerSource, digest: Future[str]) -> None:
        # A large file starts uploading now; the registry is asked whether it has it once hashed. Not a
        # file the tag already holds at that path and size: it is most likely unchanged.
        if (source.relpath, source.files[0].size) in unchanged_files:
            return
        media_type = media.layer_media_type(source.kind, "raw")
        if pipeline.submit_unhashed(media_type, source.files[0].size, layer_opener(source), digest):
            speculated.add(source.relpath)

    def hashed_by_upload(sources: list[LayerSource]) -> dict[str, Future[str]]:
        # A large file that cannot be there already starts uploading now and hashes what it sends, so it
        # is read once, not once by a hash beside the upload (that lets a HEAD stop an upload the registry
        # does not need) and once by the upload: into a new repository, any file; into one with tags, a
        # file whose size no blob of the version pushed from (`base`) has (equal bytes have equal sizes),
        # or whose bytes differ from each of that version's blobs of its size (see `changed_files`).
        if new_repository:
            taken = {s.relpath for s in sources}
        else:
            assert base is not None  # (not offered without a version to compare with: see below)
            known_size = [s for s in sources if s.files[0].size in base_sizes]
            taken = {s.relpath for s in sources if s.files[0].size not in base_sizes} \
                | changed_files(dst, base.layers, known_size)
        uploads: dict[str, Future[str]] = {}
        for source in sources:  # largest first
            if source.relpath not in taken:
                continue
            digest: Future[str] = Future()
            media_type = media.layer_media_type(source.kind, "raw")
            if pipeline.submit_unhashed(media_type, source.files[0].size, layer_opener(source), digest,
                                        hashing=True):
                speculated.add(source.relpath)
                uploads[source.relpath] = digest
        return uploads

    def on_layer(layer: PackedLayer) -> None:
        if layer.source.relpath not in speculated:
            pipeline.submit(layer.descriptor, layer.open)

    with BlobPipeline(dst, options) as pipeline:
        model = describe(model_dir, overrides, planned=planned, on_layer=on_layer, on_hashing=on_hashing,
                         hashes=hashes, resolver=_lineage_resolver(local_store, client_options), warn=warn,
                         # (a repository with tags but no version to compare with: each file may be there)
                         hashed_by_upload=hashed_by_upload if new_repository or base is not None else None)
    _check_pinned(ref, model.descriptor.digest)
    if tagged_desc is not None and tagged_desc.digest == model.descriptor.digest:  # unchanged: one GET in all
        blobs = [model.manifest.config, *model.manifest.layers]
        return model, CopyResult(model.descriptor, skipped=blobs, blobs=list(blobs), written=False)
    handled = pipeline.copied + pipeline.skipped
    result = copy(model, dst, model.descriptor.digest, ref.tag,
                  replace(options, present=frozenset(d.digest for d in handled)))
    sent = {d.digest for d in pipeline.copied} | {d.digest for d in result.copied}
    result.copied = [b for b in result.blobs if b.digest in sent]
    result.skipped = [b for b in result.blobs if b.digest not in sent]
    return model, result


def refuse_partial(local_store: LayoutStore, ref: Reference, verb: str = "push") -> None:
    """A model pulled in part (`--include`, `--exclude`, `--kind`) cannot be pushed (or copied from the
    local store, `verb`): say so, not which blob the copy missed first.

    Raises:
        UsageError: layers of the stored model are absent.
    """
    from modelpack.api.store_unpack import absent_layers

    try:
        absent = absent_layers(ref, store=local_store)
    except (NotFoundError, ValueError):
        return  # not in the store at all: the copy's own error says so
    if absent:
        raise UsageError(f"{ref} is partial in the local store ({len(absent)} layer(s) not pulled)", advice=compose(
            "pull it in full first ({}), then {}", setting(f"modelpack.pull({str(ref)!r})", f"modelpack pull {ref}"),
            verb))


def _tagged_manifest(dst: Storage, ref: Reference) -> tuple[Descriptor | None, Manifest | None]:
    """The descriptor and manifest the tag names in `dst` now (None, None: no tag, not there, or an index)."""
    if not ref.tag:
        return None, None
    try:
        desc, data = dst.fetch_manifest(ref.tag)
        node = parse_manifest(data)
    except (NotFoundError, IntegrityError, UnsupportedArtifactError, ValueError):
        return None, None  # nothing usable: the push goes ahead as if the tag were new
    return (desc, node) if isinstance(node, Manifest) else (None, None)


def _with_mounts(copy_options: CopyOptions | None, local_store: LayoutStore, ref: Reference) -> CopyOptions:
    """Offer the registry a cross-repository mount for blobs we know it already holds elsewhere."""
    options = replace(copy_options) if copy_options else CopyOptions()
    prefix = ref.registry + "/"
    known: list[dict[str, list[str]]] = []  # read on the first blob asked about, once for the push

    def candidates(blob: Descriptor) -> list[str]:
        if not known:
            known.append(local_store.origins())  # two workers racing here both read: harmless
        return [name[len(prefix):] for name in known[0].get(blob.digest, [])
                if name.startswith(prefix) and name != ref.name]

    options.mount_candidates = candidates
    return options


def _check_stored_blobs(local_store: LayoutStore, ref: Reference) -> None:
    """Hash the stored blobs of `ref`'s manifest (only after a registry refused one: it costs a read of
    the model); a corrupt one is deleted and raises IntegrityError naming the fix (see verify_blob)."""
    node = parse_manifest(local_store.read_blob_bytes(local_store.resolve(ref)))
    if isinstance(node, Manifest):
        for blob in (node.config, *node.layers):
            local_store.verify_blob(blob)
