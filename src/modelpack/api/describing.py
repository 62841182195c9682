"""Describing a model directory as a ModelPack artifact (its manifest, config and layers) without
storing anything: what `pack` stores and `push DIR REF` streams."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.model_folder import require_model_folder

if TYPE_CHECKING:
    from modelpack.metadata.folder_metadata import FolderMetadata
    from modelpack.metadata.load import Overrides
    from modelpack.metadata.schema import ModelMetadata
    from modelpack.oci.reference import Reference
    from modelpack.packing.build import HashProgress, PackedLayer, PackedModel
    from modelpack.packing.hashcache import HashCache
    from modelpack.packing.select import LayerSource

log = logging.getLogger("modelpack")
# Declared fields settled before any file is hashed, in the calling thread: the file rules select the files;
# a format is compared with them (said through the caller's `warn`); lineage is pinned (registry requests).
_BEFORE_HASHING = frozenset({"files", "format", "parent", "datasets"})
FIRST_LAYER_WAIT = 0.25  # seconds the metadata waits for the first layer before it is built anyway


@dataclass
class Plan:
    """What describing a folder settles locally before any file is hashed (see `plan`)."""

    path: Path
    name: str
    sources: list[LayerSource]
    metadata: ModelMetadata | None  # None: validated on a thread once hashing has begun (see describe)
    read: FolderMetadata  # modelpack.yaml and the git facts, read once for the push (see folder_metadata)


def plan(model_dir: str | Path, overrides: Overrides = (), default_name: str | None = None) -> Plan:
    """The files a folder packs and, where declared fields decide them, its metadata: what `describe` finds
    first, read from the folder alone. `push DIR REF` asks it before its first request, so a mistake in
    the folder is said before any a registry could answer (a TLS error, an unreachable host).

    Args:
        model_dir: the model's directory.
        overrides: metadata over `modelpack.yaml`'s (as `pack` takes them).
        default_name: the model's name when the metadata gives none.

    Returns:
        The plan, for `describe(..., planned=)`.

    Raises:
        UsageError: not a directory, or no files to pack in it.
        MetadataError: a `modelpack.yaml` that is not YAML; metadata that does not validate, where
            overrides or declared fields settle it before hashing (else `describe` validates it meanwhile).
    """
    from modelpack.metadata.folder_metadata import FolderMetadata
    from modelpack.packing.select import select_layers

    path = require_model_folder(model_dir)
    name = default_name or path.resolve().name
    read = FolderMetadata(path)
    if not overrides and not _BEFORE_HASHING & set(read.fields()):
        from modelpack.packing.rules import DEFAULT_RULES

        return Plan(path, name, select_layers(path, DEFAULT_RULES), None, read)
    from modelpack.metadata.load import load_metadata

    metadata = load_metadata(path, overrides, default_name=name, read=read)
    return Plan(path, name, select_layers(path, metadata.files), metadata, read)


def describe(
    model_dir: str | Path,
    overrides: Overrides = (),
    *,
    default_name: str | None = None,
    on_layer: Callable[[PackedLayer], None] | None = None,
    on_hashing: Callable[[LayerSource, Future[str]], None] | None = None,
    hashes: HashCache | None = None,
    resolver: Callable[[Reference], str] | None = None,
    hash_progress: HashProgress | None = None,
    warn: Callable[[str], None] | None = None,
    hashed_by_upload: Callable[[list[LayerSource]], dict[str, Future[str]]] | None = None,
    planned: Plan | None = None,
) -> PackedModel:
    """Describe a directory as a ModelPack artifact without storing anything. With `resolver`,
    lineage references (parent, datasets) are pinned to digests. A declared `format` that no model
    file has is packed as declared and said through `warn` (see `pack`).

    Args:
        model_dir: the model's directory.
        overrides: metadata over `modelpack.yaml`'s (as `pack` takes them).
        default_name: the model's name when the metadata gives none.
        on_layer: hears of each layer once described.
        on_hashing: hears of each file as its hashing starts (the future completes with its digest).
        hashes: digests of files already hashed, by path, size and time.
        resolver: pins a lineage reference to its digest.
        hash_progress: hears of the files being hashed (for a progress bar).
        warn: hears of metadata the files contradict (default: a logging warning).
        hashed_by_upload: may take large files to upload at once, each hashing what it sends (see `build`).
        planned: `plan(model_dir, overrides, default_name)`, when the caller asked it already.

    Returns:
        The manifest, config and layers, with where each layer's bytes come from.

    Raises:
        UsageError: not a directory, or more files than a 4 MiB manifest can name.
        MetadataError: metadata that does not validate (the field is named).
    """
    from modelpack.api.core import _store_hashes
    from modelpack.packing.build import build

    planned = planned or plan(model_dir, overrides, default_name)
    path, sources = planned.path, planned.sources
    build_hooks = {"on_layer": on_layer, "on_hashing": on_hashing, "hashes": hashes or _store_hashes(None),
                   "hash_progress": hash_progress, "hashed_by_upload": hashed_by_upload}
    if planned.metadata is None:
        # Nothing declared that must be settled first (modelpack.yaml seldom has any of it): the files are
        # selected by the default rules and hashing starts at once; pydantic is imported (~110 ms, before the
        # first hash otherwise) and the metadata validated on a thread once the first layer is described
        # (see _metadata_meanwhile). Nothing of the caller's runs there: a hook (`warn`) may close the
        # client the call runs on, which waits for the call.
        warn_leftovers(sources, warn)
        first_layer = threading.Event()

        def heard(layer: PackedLayer) -> None:
            first_layer.set()
            if on_layer is not None:
                on_layer(layer)

        build_hooks["on_layer"] = heard
        pending = _metadata_meanwhile(planned, first_layer)
        return build(path, pending, sources=sources, **build_hooks)  # type: ignore[arg-type]
    warn_leftovers(sources, warn)
    metadata = _completed(planned.metadata, model_dir, sources, resolver, warn)
    return build(path, metadata, sources=sources, **build_hooks)  # type: ignore[arg-type]


def warn_leftovers(sources: list[LayerSource], warn: Callable[[str], None] | None) -> None:
    """Said in the calling thread, before hashing: what tools left in the folder, and large files of no
    known kind, packed as layers."""
    from modelpack.packing.guessed import guessed_warning
    from modelpack.packing.leftovers import leftovers_warning

    for message in (leftovers_warning(sources), guessed_warning(sources)):
        if message:
            (warn or log.warning)(message)


def _completed(metadata: ModelMetadata, model_dir: str | Path, sources: list[LayerSource],
               resolver: Callable[[Reference], str] | None, warn: Callable[[str], None] | None) -> ModelMetadata:
    """The metadata with its lineage pinned to digests (with `resolver`); a declared format that no file
    has is said through `warn` (packed as declared: the user may know a format the files cannot show)."""
    from modelpack.inspection.declared_format import format_mismatch

    if resolver is not None:
        from modelpack.lineage_chain import pin, pin_parent

        metadata = metadata.model_copy(update={
            "parent": pin_parent(metadata.parent, resolver) if metadata.parent else None,
            "datasets": [pin(d, resolver) for d in metadata.datasets],
        })
    if metadata.format and (mismatch := format_mismatch(metadata.format, sources, model_dir)):
        (warn or log.warning)(mismatch)
    return metadata


def _metadata_meanwhile(planned: Plan, first_layer: threading.Event) -> Future[ModelMetadata]:
    """The metadata of a directory pushed with no overrides and none of `_BEFORE_HASHING` declared, built on
    a thread of its own once the first layer is described (or FIRST_LAYER_WAIT has passed); its failure
    stops the hashing (see `build`). Importing pydantic and yaml holds the interpreter for ~60 ms, which
    kept the first files from being hashed and their uploads from starting (2,000 small files: the first
    upload 55 ms later); the manifest needs the metadata only once every layer is described."""
    pending: Future[ModelMetadata] = Future()

    def load() -> None:
        try:
            first_layer.wait(FIRST_LAYER_WAIT)
            from modelpack.metadata.load import load_metadata

            pending.set_result(load_metadata(planned.path, (), default_name=planned.name, read=planned.read))
        except BaseException as exc:  # handed to whoever waits for the metadata
            pending.set_exception(exc)

    threading.Thread(target=load, name="modelpack-metadata", daemon=True).start()
    return pending
