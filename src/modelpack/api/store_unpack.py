"""Unpacking a model the local store holds into a directory: `unpack`, and what `pull` and `build-image`
share of it.

    import modelpack
    modelpack.unpack("localhost:5000/team/iris:1.0", "./iris-again")            # from the store
"""

from __future__ import annotations

from pathlib import Path

from modelpack import advice
from modelpack.advice import compose, setting
from modelpack.api.core import _store, parse_reference
from modelpack.errors import IntegrityError, NotFoundError, UsageError
from modelpack.first_few import first_few
from modelpack.image.kinds import refuse_container_image
from modelpack.metadata.restore import restore_metadata_file
from modelpack.model_info import index_refusal
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Descriptor, Index, Manifest, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.output_folder import check_output, naming_output
from modelpack.places import Place
from modelpack.selection import LayerSelection
from modelpack.store.layout import LayoutStore
from modelpack.unpacking import layer_path, unpack_manifest


def single_manifest(ref: Place, data: bytes | Manifest | Index) -> Manifest:
    """The one manifest `data` holds, as bytes or parsed (a container image or an index of several is
    refused: UsageError)."""
    node = parse_manifest(data) if isinstance(data, bytes) else data
    refuse_container_image(ref, node)
    if isinstance(node, Index):
        raise UsageError(index_refusal(ref, "is an index of several manifests; name one of them by digest"))
    return node


def unpack(reference: str | Reference, output: str | Path, *, store: LayoutStore | None = None,
           link: bool = False, force: bool = False, selection: LayerSelection | None = None,
           origin: str | None = None) -> list[str]:
    """Restore the files of a model in the local store into `output`, and a ModelPack model's
    metadata as `modelpack.yaml` (unless one of its layers is a file of that name).

    Args:
        reference: the model in the local store.
        output: a new or empty directory (any directory with `force`).
        store: the local store (default: MODELPACK_HOME's).
        link: hard-link the files to the store's blobs (read-only) instead of copying them.
        force: replace the files of `output` that differ from the model's; leave the rest alone.
        selection: restore only the layers it takes.
        origin: the reference modelpack.yaml names (default: `reference`).

    Returns:
        The restored paths, relative to `output`.

    Raises:
        UsageError: `output` is not empty and not `force`, or `selection` takes no layer.
        NotFoundError: a layer to restore is absent from the store (a partial pull left it out).
        IntegrityError: a layer's blob in the store has changed size (run `store check --repair`).
        UnsafePathError: the artifact names a path that must not be written (nothing is written).
    """
    ref = parse_reference(reference)
    local_store = _store(store)
    with local_store.reading():  # a concurrent `rm` of it then leaves its blobs until we are done
        try:
            return unpack_stored(ref, output, local_store, link, force, selection, origin)
        except NotFoundError as exc:
            if exc.advice is not None or not ref.registry:
                raise
            # `unpack REG/REPO:TAG -o DIR` of a model never pulled: the command that fetches it.
            raise NotFoundError(exc.wording, advice=compose("{} fetches it from its registry", setting(
                f"modelpack.pull({str(ref)!r}, output=...)", f"`modelpack pull {ref} -o DIR`"))) from None


def unpack_stored(ref: Reference, output: str | Path, local_store: LayoutStore, link: bool, force: bool,
                  selection: LayerSelection | None, origin: str | None, metadata: bool = True,
                  stored: tuple[Descriptor, Manifest] | None = None) -> list[str]:
    """`unpack` of a parsed reference, under the caller's `local_store.reading()`; `stored`: its manifest's
    descriptor and the manifest, when the caller has read them from the store already (or pulled them
    there, their digest checked)."""
    desc, whole = stored if stored is not None else _read(ref, local_store)
    manifest = (selection or LayerSelection()).select(whole, str(ref))
    check_output(output, force)
    absent = [layer for layer in manifest.layers if not local_store.has_blob(layer)]
    damaged = [layer for layer in absent if local_store.blob_path(layer.digest).exists()]  # of another size
    if damaged:
        raise IntegrityError(compose("the local store's copy of {} ({}) is damaged: its size changed (an edited {} "
                                     "output?)", _names(damaged), str(ref), setting("link=True", "--link")),
                             advice=advice.repair_store("then pull it again"))
    if absent:
        raise NotFoundError(f"{ref} is partial in the local store: {_names(absent)} not pulled", advice=compose(
            "pull it without a selection (or with one that takes them) first, or unpack with {}",
            setting("selection=LayerSelection(include=..., kinds=...)", "--include/--kind")))
    with naming_output(Path(output)):
        files = unpack_manifest(manifest, local_store, Path(output), link=link, force=force)
    config = local_store.read_blob_bytes(whole.config) if local_store.has_blob(whole.config) \
        and whole.config.size <= MAX_MANIFEST_BYTES else None
    if metadata:
        restore_metadata_file(Path(output), whole, config, origin or str(ref), desc.digest, files)
    return files


def absent_layers(reference: str | Reference, *, store: LayoutStore | None = None) -> list[Descriptor]:
    """The layers of a model in the local store that it does not hold (left out by a partial pull, or
    lost); none for a complete model or an index.

    Args:
        reference: the model's reference.
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        The descriptors of the absent layers.

    Raises:
        NotFoundError: the model is not in the local store.
    """
    local_store = _store(store)
    desc = local_store.resolve(parse_reference(reference))
    node = parse_manifest(local_store.read_blob_bytes(desc))
    return [layer for layer in node.layers if not local_store.has_blob(layer)] if isinstance(node, Manifest) else []


def _names(layers: list[Descriptor]) -> str:
    paths = [layer_path(layer) or layer.digest[:19] for layer in layers]
    return first_few(paths, 5)


def manifest_for_files(local_store: LayoutStore, ref: Reference) -> Manifest:
    """The manifest of a model in the local store whose files are to be restored.

    Raises:
        UsageError: the reference names an index of several manifests.
    """
    return _read(ref, local_store)[1]


def _read(ref: Reference, local_store: LayoutStore) -> tuple[Descriptor, Manifest]:
    desc = local_store.resolve(ref)
    return desc, single_manifest(ref, local_store.read_blob_bytes(desc))
