"""Build a ModelPack manifest for a directory: hash every layer once, then describe it.

The result, `PackedModel`, is a read-only content source: `copy()` moves it into the local store or
straight to a registry, re-reading files (or regenerating tar streams) as the destination asks.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack.errors import NotFoundError
from modelpack.metadata.created import creation_time, source_date_epoch
from modelpack.metadata.mapping import manifest_annotations, model_config
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest, encode_manifest, json_bytes
from modelpack.packing.archive_entries import check_archive_entries
from modelpack.packing.archive_key import archive_key
from modelpack.packing.hashcache import HashCache
from modelpack.packing.layer_descriptor import layer_descriptor, tar_mtime
from modelpack.packing.manifest_size import check_manifest_size, far_below_manifest_limit
from modelpack.packing.reading import changed, open_source
from modelpack.packing.rules import DEFAULT_RULES
from modelpack.packing.select import LayerSource, select_layers
from modelpack.store.upload import Stopped
from modelpack.streams import ByteStream, IterStream, fill
from modelpack.threads import map_in_workers

if TYPE_CHECKING:
    from modelpack.metadata.schema import ModelMetadata

# Files at least this large may start uploading before their digest is known (see api.push).
SPECULATE_MIN_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PackedLayer:
    descriptor: Descriptor
    source: LayerSource
    tar_mtime: int
    diff_id: str | None = None  # the uncompressed tar's digest, for a compressed layer

    def open(self) -> ByteStream:
        parsed = mt.parse_layer_media_type(self.descriptor.media_type)
        packing = parsed[1] if parsed else "raw"
        if packing != "raw":
            return IterStream(layer_chunks(self.source, self.tar_mtime, packing))
        return open_source(self.source.files[0])


def layer_packing(source: LayerSource, compress: mt.Compression | None) -> mt.Packing:
    """How a layer is packed: `raw` for a single file, `tar` for a folder of `files.archives`; with
    `compress`, a doc, code or dataset layer is a tar (of its one file, or its folder) compressed, and so
    is a folder of any kind but weights (a tokenizer folder: one tar either way, and compressed with gzip
    it is one that `oras pull` unpacks)."""
    archived = source.archive and source.kind != "weight"
    if compress is not None and (source.kind in mt.COMPRESSED_KINDS or archived):
        return "tar+gzip" if compress == "gzip" else "tar+zstd"
    return "tar" if source.archive else "raw"


def layer_chunks(source: LayerSource, tar_mtime: int, packing: mt.Packing,
                 tar_hash: hashlib._Hash | None = None, unpadded: hashlib._Hash | None = None) -> Iterator[bytes]:
    """The bytes of a tar layer (`packing` other than raw): its files as a tar, compressed if asked;
    `tar_hash` is updated with the uncompressed tar (the layer's diffID), `unpadded` with the same tar
    up to its end-of-archive blocks: what a Go tar reader consumes, so what `oras pull` checks."""
    from modelpack.packing.tarball import tar_chunks  # (with tarfile) only for a folder packed as an archive

    chunks = tar_chunks(source.files, tar_mtime)
    if tar_hash is not None:
        chunks = _hashing(chunks, tar_hash, unpadded)
    if packing == "tar":
        return chunks
    from modelpack.compression import compressed

    return compressed(chunks, "gzip" if packing == "tar+gzip" else "zstd")


def layer_opener(source: LayerSource) -> Callable[[], ByteStream]:
    """Opens a single-file layer's bytes (before its digest is known)."""
    return lambda: open_source(source.files[0])


@dataclass(frozen=True)
class PackedModel:
    """A model described but not yet stored anywhere. Implements the read side of a storage target."""

    metadata: ModelMetadata
    manifest: Manifest
    manifest_bytes: bytes
    descriptor: Descriptor
    config_bytes: bytes
    layers: tuple[PackedLayer, ...]

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        if version != self.descriptor.digest:
            raise NotFoundError(f"manifest {version} is not part of this model")
        return self.descriptor, self.manifest_bytes

    def open_blob(self, desc: Descriptor) -> ByteStream:
        if desc.digest == self.manifest.config.digest:
            return io.BytesIO(self.config_bytes)
        layer = self._by_digest.get(desc.digest)
        if layer is None:
            raise NotFoundError(f"blob {desc.digest} is not part of this model")
        return layer.open()

    @functools.cached_property
    def _by_digest(self) -> dict[str, PackedLayer]:
        # Looked up, not searched: a scan per blob opened made a pack of 8,000 files quadratic (32
        # million comparisons, 5.3x the time of 2,000 files). The first of equal layers, as the scan did.
        found: dict[str, PackedLayer] = {}
        for layer in self.layers:
            found.setdefault(layer.descriptor.digest, layer)
        return found


def _hashing(chunks: Iterator[bytes], tar_hash: hashlib._Hash, unpadded: hashlib._Hash | None) -> Iterator[bytes]:
    previous = None
    for chunk in chunks:
        tar_hash.update(chunk)
        if unpadded is not None and previous is not None:
            unpadded.update(previous)  # every piece but the last: the record padding (see tar_chunks)
        previous = chunk
        yield chunk


@dataclass(frozen=True)
class HashProgress:
    """How `build` reports hashing: `start(size)` as a file's hashing begins, `advance(n)` per piece."""

    start: Callable[[int], None]
    advance: Callable[[int], None]


def build(
    model_dir: Path,
    metadata: ModelMetadata | Future[ModelMetadata],
    *,
    workers: int = 2,
    hashes: HashCache | None = None,
    on_layer: Callable[[PackedLayer], None] | None = None,
    on_hashing: Callable[[LayerSource, Future[str]], None] | None = None,
    hash_progress: HashProgress | None = None,
    sources: list[LayerSource] | None = None,
    hashed_by_upload: Callable[[list[LayerSource]], dict[str, Future[str]]] | None = None,
) -> PackedModel:
    """Describe `model_dir` as a ModelPack artifact, hashing each file (unless `hashes` knows it).
    `sources` are its layers when the caller has already selected them (`select_layers`).

    `metadata` may still be being built (a future, which `describe` gives when the directory has no
    modelpack.yaml): the files are then selected by the default rules and hashed meanwhile, and the
    metadata is awaited for the manifest (or before hashing, when the model has so many files that the
    manifest's size must be checked first).

    Hooks for a push that overlaps hashing with uploading: `on_hashing` is told about a large file
    before it is hashed, with a future of its digest; `on_layer` sees each layer once described;
    `hashed_by_upload` may take large files to upload at once, each hashing what it sends (a future of its
    digest by relpath): they are then read once, not twice.
    `hash_progress` is told of each file hashed and of the bytes read (for a progress bar)."""
    epoch = source_date_epoch()
    pending = metadata if isinstance(metadata, Future) else None
    rules = DEFAULT_RULES if pending is not None else metadata.files  # type: ignore[union-attr]
    if sources is None:
        sources = select_layers(model_dir, rules)
    newest = max((f.mtime for s in sources for f in s.files), default=None)
    packings = {s.relpath: layer_packing(s, rules.compress) for s in sources}
    if pending is not None and not far_below_manifest_limit(sources):
        metadata, pending = pending.result(), None  # its size must be checked before any hashing
    if pending is None:
        assert not isinstance(metadata, Future)
        check_manifest_size(metadata, creation_time(metadata, newest), sources, packings, epoch)

    # Digests the cache knows, looked up here: for an unchanged model of many small files, handing
    # each lookup to the pool cost more in thread hand-offs than the lookups themselves.
    # Each raw file's cache key, taken here once: what its digest is stored under once it is hashed.
    file_keys: dict[str | Path, tuple[str, list[int]]] = {}
    cached = hashes.get_many((s.files[0].path for s in sources if packings[s.relpath] == "raw"),
                             file_keys) if hashes else {}
    known = {s.relpath: digest for s in sources if packings[s.relpath] == "raw"
             and (digest := cached.get(s.files[0].path)) is not None}
    check_archive_entries(sources)
    mtimes = {s.relpath: tar_mtime(s, epoch) for s in sources}
    # Folders packed as one layer, looked up in the same way: every key, then one read of the cache.
    archive_keys = {s.relpath: key for s in sources if hashes and packings[s.relpath] != "raw"
                    and (key := archive_key(s, packings[s.relpath], mtimes[s.relpath])) is not None}
    archives_known = hashes.lookup_many(dict(archive_keys.values())) if hashes and archive_keys else {}

    def file_digest(source: LayerSource) -> tuple[str, int]:
        file = source.files[0]
        cached = known.get(source.relpath)
        if cached is not None:
            return cached, file.size
        if source.relpath in uploads:
            digest = _digest_of_upload(uploads[source.relpath], pending)
            if hashes and (key := file_keys.get(file.path)):
                hashes.store(*key, digest)
            return digest, file.size
        future: Future[str] = Future()
        twin = uploads.get(kin.get(source.relpath) or "")
        if twin is not None:
            # It may repeat a file being uploaded (and hashed): once that digest is known, an equal
            # one is that blob already (see BlobPipeline.submit), so it is neither speculated nor sent.
            with contextlib.suppress(Exception):
                _digest_of_upload(twin, pending)
        elif on_hashing and file.size >= SPECULATE_MIN_BYTES:
            on_hashing(source, future)
        if hash_progress:
            hash_progress.start(file.size)
        key = file_keys.get(file.path)  # taken before reading (see HashCache.key)
        try:
            with open_source(file) as stream:
                digest, size = digests.of_stream(stream, advance)
            if size != file.size:
                raise changed(source.relpath)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        future.set_result(digest)
        if hashes and key:
            hashes.store(*key, digest)
        return digest, size

    stopped = threading.Event()  # another file failed, or Ctrl-C: a large file stops within a piece too

    def advance(n: int) -> None:
        _stop_if_failed(pending, stopped)  # (or of the metadata failing)
        if hash_progress:
            hash_progress.advance(n)

    def describe(source: LayerSource) -> PackedLayer:
        _stop_if_failed(pending)  # the workers take no more files
        packing = packings[source.relpath]
        mtime = mtimes[source.relpath]
        tar_digest: str | None = None
        oras_digest = ""  # (a folder's only)
        if packing != "raw":
            key = archive_keys.get(source.relpath)
            digest, size, tar_digest, oras_digest = archive_digests(
                source, mtime, packing, hashes, key, archives_known.get(key[0]) if key else None)
        else:
            digest, size = file_digest(source)
        diff_id = tar_digest if packing in ("tar+gzip", "tar+zstd") else None
        desc = layer_descriptor(source, packing, digest, size, epoch, oras_digest)
        layer = PackedLayer(desc, source, mtime, diff_id)
        if on_layer:
            on_layer(layer)
        return layer

    # Largest first: their uploads take longest, so they should start first.
    by_size = sorted(sources, key=lambda s: sum(f.size for f in s.files), reverse=True)
    hashing = [s for s in by_size if s.relpath not in known]
    large = [s for s in hashing if packings[s.relpath] == "raw" and s.files[0].size >= SPECULATE_MIN_BYTES]
    kin = _kin(large) if hashed_by_upload is not None else {}  # relpath: an earlier file it may equal
    # Files an upload reads and hashes, started now, largest first.
    uploads = hashed_by_upload([s for s in large if kin[s.relpath] is None]) if hashed_by_upload else {}
    ours = [s for s in hashing if s.relpath not in uploads]
    hashed = map_in_workers(describe, ours, workers, stop=stopped)
    described = dict(zip((s.relpath for s in ours), hashed, strict=True))
    described.update((s.relpath, describe(s)) for s in by_size if s.relpath in known or s.relpath in uploads)
    if hashes:
        hashes.save()
    if pending is not None:
        metadata = pending.result()
    assert not isinstance(metadata, Future)
    created = creation_time(metadata, newest)
    return assemble(metadata, created, tuple(described[s.relpath] for s in sources), keep=True)


def archive_digests(source: LayerSource, mtime: int, packing: mt.Packing, hashes: HashCache | None,
                    key: tuple[str, str] | None = None, found: Any = None) -> tuple[str, int, str, str]:
    """A folder's layer (`packing` other than raw): its digest and size, the uncompressed tar's digest
    (the diffID) and that tar's digest up to its end-of-archive blocks (what oras checks). `found`, what
    the hash cache holds under the folder's `key` (see archive_key) while no member changed; else by
    packing the folder, then kept in the cache under `key`."""
    if (isinstance(found, list) and len(found) == 4 and isinstance(found[1], int)
            and all(isinstance(found[i], str) and digests.is_digest(found[i]) for i in (0, 2, 3))):
        return found[0], found[1], found[2], found[3]
    tar_hash, unpadded = hashlib.sha256(), hashlib.sha256()
    digest, size = digests.of_stream(IterStream(layer_chunks(source, mtime, packing, tar_hash, unpadded)))
    result = digest, size, "sha256:" + tar_hash.hexdigest(), "sha256:" + unpadded.hexdigest()
    if hashes and key:
        hashes.store(*key, list(result))
    return result


def assemble(metadata: ModelMetadata, created: datetime, layers: tuple[PackedLayer, ...],
             keep: bool = False) -> PackedModel:
    """The model of `layers`; `keep`: its manifest is the one a push or pack goes on with, so parsing its
    bytes back (copy does) returns this manifest instead of a second descriptor for every layer."""
    diff_ids = [layer.diff_id or layer.descriptor.digest for layer in layers]  # uncompressed: diffID == digest
    config_bytes = json_bytes(model_config(metadata, created, diff_ids))
    config = Descriptor(mediaType=mt.MODEL_CONFIG, digest=digests.of_bytes(config_bytes), size=len(config_bytes))
    manifest = Manifest(
        artifactType=mt.MODEL_ARTIFACT,
        config=config,
        layers=[layer.descriptor for layer in layers],
        annotations=manifest_annotations(metadata, created),
    )
    data = encode_manifest(manifest) if keep else manifest.canonical_bytes()
    desc = Descriptor(
        mediaType=mt.OCI_MANIFEST, digest=digests.of_bytes(data), size=len(data), artifactType=mt.MODEL_ARTIFACT
    )
    return PackedModel(metadata, manifest, data, desc, config_bytes, layers)


def _kin(sources: list[LayerSource]) -> dict[str, str | None]:
    """For each of `sources` (large files), an earlier one it may equal (the same size and first MiB),
    or None. Only a file with none is uploaded as it is hashed: an upload that hashes cannot stop early
    for an equal file, so a possible repeat waits for its kin's digest instead (equal bytes go up once)."""
    first: dict[tuple[int, str], str] = {}
    kin: dict[str, str | None] = {}
    head = memoryview(bytearray(1024 * 1024))
    for source in sources:
        with open_source(source.files[0]) as stream:
            kind = (source.files[0].size, hashlib.sha256(head[:fill(stream, head)]).hexdigest())
        kin[source.relpath] = first.setdefault(kind, source.relpath)
        if kin[source.relpath] == source.relpath:
            kin[source.relpath] = None
    return kin


def _digest_of_upload(upload: Future[str], pending: Future[ModelMetadata] | None) -> str:
    """The digest an upload computes, waited for in short steps (a Ctrl-C, the metadata failing)."""
    while True:
        _stop_if_failed(pending)
        try:
            return upload.result(timeout=0.5)
        except TimeoutError:
            continue


def _stop_if_failed(pending: Future[ModelMetadata] | None, stopped: threading.Event | None = None) -> None:
    """Raise what building the metadata raised (a bad modelpack.yaml, a parent not found), or Stopped."""
    if pending is not None and pending.done() and (failure := pending.exception()) is not None:
        raise failure
    if stopped is not None and stopped.is_set():
        raise Stopped("hashing was stopped")
