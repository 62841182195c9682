"""A model's manifest must fit the 4 MiB registries take: checked before any file is hashed or sent."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from modelpack.errors import UsageError
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES

if TYPE_CHECKING:
    from modelpack.metadata.schema import ModelMetadata
    from modelpack.packing.select import LayerSource

LAYER_BYTES_BOUND = 640  # a layer's descriptor in the manifest but for its path (~450 with every annotation)


def far_below_manifest_limit(sources: list[LayerSource]) -> bool:
    # Layers only, without metadata: metadata built from no modelpack.yaml (a name, a git revision and
    # URL) is a few hundred bytes of annotations and config; 64 KiB leaves room for far more.
    return sum(_layer_bound(s.relpath) for s in sources) <= MAX_MANIFEST_BYTES - 64 * 1024


def check_manifest_size(metadata: ModelMetadata, created: datetime, sources: list[LayerSource],
                        packings: dict[str, mt.Packing], epoch: int | None) -> None:
    """Refuse, before any file is hashed or sent, a model whose manifest would be over the 4 MiB that
    registries take (Distribution refuses more; OCI asks registries to accept at least that) and that
    pull reads: about 9,000 files as layers of their own. The manifest is built with placeholder digests
    (of the real length) and layer sizes (the files' own; a tar's within a few digits), so its size is
    the real one's to within a few bytes; the real manifest is checked again once built.

    Raises:
        UsageError: the manifest would be too large; names the folders holding the most files.
    """
    from modelpack.packing.build import PackedLayer, assemble
    from modelpack.packing.layer_descriptor import layer_descriptor, tar_mtime

    # Most models are far below: a bound spares them building the manifest twice (~35 ms per 1,000 layers).
    bound = len(assemble(metadata, created, ()).manifest_bytes) + sum(_layer_bound(s.relpath) for s in sources)
    if bound <= MAX_MANIFEST_BYTES:
        return
    placeholder = "sha256:" + "0" * 64
    layers = []
    for source in sources:
        packing = packings[source.relpath]
        size = source.files[0].size if packing == "raw" else sum(f.size + 1024 for f in source.files) + 1024
        desc = layer_descriptor(source, packing, placeholder, size, epoch, placeholder)
        layers.append(PackedLayer(desc, source, tar_mtime(source, epoch), placeholder if packing != "raw" else None))
    size = len(assemble(metadata, created, tuple(layers)).manifest_bytes)
    if size <= MAX_MANIFEST_BYTES:
        return
    folders = Counter(s.relpath.split("/", 1)[0] + "/" if "/" in s.relpath else "(top level)" for s in sources)
    crowded = ", ".join(f"{name} {count:,} file{'' if count == 1 else 's'}" for name, count in folders.most_common(3))
    raise UsageError(
        f"{len(sources):,} layers make a {size / (1 << 20):.1f} MiB manifest, over the 4 MiB registries accept: "
        f"pack big folders as one layer each with `files: {{archives: [FOLDER]}}` in modelpack.yaml "
        f"(most files: {crowded})")


def _layer_bound(relpath: str) -> int:
    """At most the bytes a layer with this path takes in the manifest: the path is written twice and its
    last part once more inside a JSON string (escaped twice: up to 14 bytes for one character)."""
    plain = relpath.isascii() and relpath.isprintable() and '"' not in relpath and "\\" not in relpath
    return LAYER_BYTES_BOUND + (3 if plain else 26) * len(relpath)
