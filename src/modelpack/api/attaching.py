"""Adding files to a version as a new version, without downloading it: `attach REF FILE... -t NEWREF`.

    import modelpack
    modelpack.attach("localhost:5000/team/iris:1.0", ["eval/report.md"], "localhost:5000/team/iris:1.0-eval")

The new manifest lists the version's layers unchanged (the same blobs, by digest) and one new layer per
file; its metadata is the version's, with `parent` pinned to the version's digest (so `lineage` leads
back to it) and a new `created`. Only the new files and the new config are uploaded: existing blobs are
already in the repository, or mounted from the version's repository on the same registry.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack.advice import compose, setting
from modelpack.api.core import TransferResult, _transfer, parse_reference, remote
from modelpack.artifact_paths import safe_relpath
from modelpack.errors import NotFoundError, UnsafePathError, UsageError
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Descriptor, Manifest, json_bytes, parse_manifest
from modelpack.oci.jsontext import parse_or_none
from modelpack.oci.reference import Reference, retarget
from modelpack.store.copy import CopyOptions, copy
from modelpack.store.mirrored import naming_mirrors
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.target import ReadableStorage, read_small
from modelpack.streams import ByteStream
from modelpack.unpacking import layer_path

if TYPE_CHECKING:
    from modelpack.metadata.load import Overrides
    from modelpack.packing.select import LayerSource

log = logging.getLogger("modelpack")

MAX_FILES = 10_000  # files attached in one go


@closes_own_options
def attach(
    reference: str | Reference,
    files: Sequence[str | Path],
    target: str | Reference,
    overrides: Overrides = (),
    *,
    options: ClientOptions | None = None,
    copy_options: CopyOptions | None = None,
    base: str | Path = ".",
) -> TransferResult:
    """Push a new version made of the version `reference` plus `files`, to `target`.

    Args:
        reference: the version in a registry.
        files: regular files inside `base`; each becomes a layer whose path is its path relative to `base`.
        target: the new version's reference (a bare tag lands in `reference`'s repository).
        overrides: metadata changes, as `pack` takes them (e.g. `["version=1.1"]`).
        options: how to reach the registry.
        copy_options: concurrency and progress.
        base: the folder the files' layer paths are relative to (default: the current directory).

    Returns:
        What was pushed: the new manifest's descriptor, and the blobs uploaded (the new files and config).

    Raises:
        UsageError: a file outside `base`, a symbolic link, not a regular file, a path the version already
            has, no files, or `reference` is not a ModelPack model.
        NotFoundError: `reference` does not exist.
        MetadataError: the metadata with `overrides` does not validate.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    ref = parse_reference(reference)
    new_ref = retarget(ref, target)
    if not new_ref.tag and not new_ref.digest:
        raise UsageError(f"{target}: a tag is needed to name the new version")
    sources = _sources(files, Path(base))
    src = remote(ref, options, mirrors=True)
    with naming_mirrors(src):
        root, data = src.fetch_manifest(ref.version)
        manifest = parse_manifest(data)
        if not isinstance(manifest, Manifest) or not mt.is_model_config(manifest.config.media_type):
            raise UsageError(f"{ref} is not a ModelPack model; attach adds files to one")
        config = parse_or_none(read_small(src, manifest.config, MAX_MANIFEST_BYTES))
    if not isinstance(config, dict):
        raise UsageError(f"{ref}: its config is not a JSON object")
    taken = {layer_path(layer) for layer in manifest.layers}
    for source in sources:
        if source.relpath in taken:
            raise UsageError(f"{source.relpath}: {ref} already has a file at that path (attach adds new paths)",
                             advice=compose("to change it, {}, edit it there and {}",
                                            setting(f"modelpack.pull({str(ref)!r}, output=DIR)",
                                                    f"`modelpack pull {ref} -o DIR`"),
                                            setting("modelpack.push(DIR, NEWREF)", "`modelpack push DIR NEWREF`")))
    parent = str(Reference(ref.registry, ref.repository, ref.tag, root.digest))
    model = _attached(manifest, config, sources, overrides, parent, src)
    dst = remote(new_ref, options)
    options_ = copy_options or CopyOptions()
    if new_ref.registry == ref.registry and new_ref.repository != ref.repository:
        options_.mount_candidates = lambda blob: [ref.repository]
    result = copy(model, dst, model.descriptor.digest, new_ref.tag, options_)
    _say_kept_version(config, overrides, new_ref)
    return _transfer(new_ref, result)


def _say_kept_version(config: dict[str, Any], overrides: Overrides, new_ref: Reference) -> None:
    """A new version tagged 1.1.1 whose metadata still says its parent's 1.1.0 is what `attach` makes
    unless told otherwise: say so, with the change that fixes it."""
    descriptor = config.get("descriptor")
    old = descriptor.get("version") if isinstance(descriptor, dict) else None
    keys = overrides.keys() if isinstance(overrides, Mapping) else [o.split("=", 1)[0].strip() for o in overrides]
    if isinstance(old, str) and new_ref.tag and old != new_ref.tag and "version" not in keys:
        # Registry text goes in as parts, never into the template: a `{` in it is no placeholder.
        log.warning(compose("{} records its parent's version {}: attach again with {} to record {}", str(new_ref),
                            old, setting(f"overrides=['version={new_ref.tag}']", f"--set version={new_ref.tag}"),
                            new_ref.tag))


@dataclass(frozen=True)
class _AttachedModel:
    """The new version as a content source for copy(): new files from disk, the rest from the registry."""

    descriptor: Descriptor
    manifest_bytes: bytes
    config: Descriptor
    config_bytes: bytes
    files: dict[str, LayerSource]  # digest -> the new file
    origin: ReadableStorage

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        if version != self.descriptor.digest:
            raise NotFoundError(f"manifest {version} is not part of this model")
        return self.descriptor, self.manifest_bytes

    def open_blob(self, desc: Descriptor) -> ByteStream:
        if desc.digest == self.config.digest:
            return io.BytesIO(self.config_bytes)
        source = self.files.get(desc.digest)
        if source is not None:
            from modelpack.packing.reading import open_source

            return open_source(source.files[0])
        return self.origin.open_blob(desc)


def _attached(manifest: Manifest, config: dict[str, Any], sources: list[LayerSource], overrides: Overrides,
              parent: str, origin: ReadableStorage) -> _AttachedModel:
    """The new manifest and config: the version's layers and the new files' (hashed here), in pack's order."""
    from modelpack.metadata.load import apply_overrides, creation_time, source_date_epoch, validate
    from modelpack.metadata.mapping import manifest_annotations, model_config
    from modelpack.metadata.restore import packed_metadata
    from modelpack.packing.layer_descriptor import layer_annotations
    from modelpack.packing.reading import open_source

    raw = {k: v for k, v in packed_metadata(manifest, config).items() if k not in ("created", "files")}
    raw["parent"] = parent
    apply_overrides(raw, overrides)
    metadata = validate(raw)
    created = creation_time(metadata) if metadata.created else datetime.now(tz=timezone.utc).replace(microsecond=0)
    epoch = source_date_epoch()
    if epoch is not None and not metadata.created:
        created = datetime.fromtimestamp(epoch, tz=timezone.utc)
    old_ids = (config.get("modelfs") or {}).get("diffIds") if isinstance(config.get("modelfs"), dict) else None
    diff_ids = list(old_ids) if isinstance(old_ids, list) and len(old_ids) == len(manifest.layers) \
        else [layer.digest for layer in manifest.layers]
    layers = list(manifest.layers)
    files: dict[str, LayerSource] = {}
    for source in sources:
        with open_source(source.files[0]) as stream:
            digest, size = digests.of_stream(stream)
        layers.append(Descriptor(mediaType=mt.layer_media_type(source.kind, "raw"), digest=digest, size=size,
                                 annotations=layer_annotations(source, epoch)))
        diff_ids.append(digest)
        files[digest] = source
    layers, diff_ids = _in_pack_order(layers, diff_ids, len(manifest.layers))
    config_bytes = json_bytes(model_config(metadata, created, diff_ids))
    config_desc = Descriptor(mediaType=mt.MODEL_CONFIG, digest=digests.of_bytes(config_bytes), size=len(config_bytes))
    new = Manifest(artifactType=mt.MODEL_ARTIFACT, config=config_desc, layers=layers,
                   annotations=manifest_annotations(metadata, created))
    data = new.canonical_bytes()
    desc = Descriptor(mediaType=mt.OCI_MANIFEST, digest=digests.of_bytes(data), size=len(data),
                      artifactType=mt.MODEL_ARTIFACT)
    return _AttachedModel(desc, data, config_desc, config_bytes, files, origin)


def _in_pack_order(layers: list[Descriptor], diff_ids: list[str], kept: int) -> tuple[list[Descriptor], list[str]]:
    """The layers (and their diffIDs) sorted by path as `pack` orders them, when the version's own `kept`
    layers already are (it was packed): then packing a pulled copy of the new version gives its digest
    again. A version another tool ordered otherwise keeps its order, the new layers after it."""
    paths = [layer_path(layer) or "" for layer in layers]
    if paths[:kept] != sorted(paths[:kept]):
        return layers, diff_ids
    order = sorted(range(len(layers)), key=lambda i: paths[i])
    return [layers[i] for i in order], [diff_ids[i] for i in order]


def _sources(files: Sequence[str | Path], base: Path) -> list[LayerSource]:
    """Each file as a one-file layer source, its path relative to `base`.

    Raises:
        UsageError: no files, too many, one outside `base`, a link, not a regular file, or named twice.
    """
    from modelpack.metadata.schema import FileRules
    from modelpack.packing.classify import classify
    from modelpack.packing.select import LayerSource, SourceFile

    if not files:
        raise UsageError("attach needs at least one file")
    if len(files) > MAX_FILES:
        raise UsageError(f"more than {MAX_FILES} files to attach at once")
    root = base.resolve()
    out: dict[str, LayerSource] = {}
    for name in files:
        path = Path(name)
        given = path if path.is_absolute() else base / path
        try:
            rel = safe_relpath(os.path.relpath(os.path.abspath(given), os.path.abspath(base)).replace(os.sep, "/"))
        except UnsafePathError:
            raise _outside(name, base) from None
        for step in [given, *list(given.parents)[: rel.count("/")]]:  # the file, and the folders up to `base`
            if step.is_symlink():
                raise UsageError(f"{name}: {step} is a symbolic link; attach the file itself")
        if Path(os.path.realpath(given)).parent != root and root not in Path(os.path.realpath(given)).parents:
            raise _outside(name, base)
        try:
            st = os.stat(given, follow_symlinks=False)
        except OSError as exc:
            raise UsageError(f"{name}: cannot read it ({exc.strerror})") from None
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{name}: not a regular file")
        if rel in out:
            raise UsageError(f"{name}: named twice")
        kind, certain = classify(rel, FileRules(), base)
        out[rel] = LayerSource(rel, kind, certain, files=[
            SourceFile(rel, given, stat.S_IMODE(st.st_mode) & 0o777, st.st_size, int(st.st_mtime))])
    return [out[rel] for rel in sorted(out)]


def _outside(name: str | Path, base: Path) -> UsageError:
    """A file outside `base`, which is named as the user knows it (its absolute path: "." says nothing in
    a script's log), with the way to attach it."""
    return UsageError(f"{name}: outside {os.path.abspath(base)}, the folder whose files attach adds (their path "
                      "there becomes the layer's path)", advice=compose("{}", setting(
                          "pass base=, a folder that holds it", "run attach from a folder that holds it")))
