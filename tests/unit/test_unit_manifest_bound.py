"""The cheap bound that spares most packs the manifest-size check must never be below a layer's real size."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from modelpack.metadata.schema import ModelMetadata
from modelpack.packing.build import PackedLayer, assemble
from modelpack.packing.layer_descriptor import layer_descriptor
from modelpack.packing.manifest_size import _layer_bound
from modelpack.packing.select import LayerSource, SourceFile

PATHS = [
    "a",
    "model.safetensors",
    "d/" * 40 + "x.bin",
    'quote"and\\backslash/na"me\\.bin',
    "ctrl\x01\x1f/tab\tname",
    "emoji/😀😀😀😀.bin",
    "mixed/é漢字😀\"\\\x02.json",
    "x" * 255 + "/" + "😀" * 200,
]


@pytest.mark.parametrize("relpath", PATHS)
@pytest.mark.parametrize("archive", [False, True])
def test_layer_bound_covers_the_real_descriptor(relpath: str, archive: bool) -> None:
    metadata = ModelMetadata(name="m")
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    file = SourceFile(relpath, path=None, mode=0o777, size=10**15, mtime=2**33)  # type: ignore[arg-type]
    source = LayerSource(relpath, "dataset", certain=False, files=[file], archive=archive)
    digest = "sha256:" + "0" * 64
    layer = PackedLayer(layer_descriptor(source, "tar+gzip" if archive else "raw", digest, 10**15, None, digest),
                        source, 0, digest)
    empty = len(assemble(metadata, created, ()).manifest_bytes)
    one = len(assemble(metadata, created, (layer,)).manifest_bytes)
    assert one - empty <= _layer_bound(relpath)
