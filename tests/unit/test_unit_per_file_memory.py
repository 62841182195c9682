"""What a model of many files keeps per file: records without per-instance dicts, no Future kept per
file or blob, one parsed copy of the manifest a push builds (issue 13: peak memory for ~9,000 layers)."""

from __future__ import annotations

import io
import threading

import pytest

from modelpack.errors import NotFoundError
from modelpack.metadata.schema import ModelMetadata
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest, encode_manifest, parse_manifest
from modelpack.packing.build import build
from modelpack.packing.select import select_layers
from modelpack.store.copy import BlobPipeline, CopyOptions
from modelpack.store.memory import MemoryStore
from modelpack.threads import map_in_workers

RAW = mt.layer_media_type("weight", "raw")


def test_map_in_workers_keeps_order_and_stops_taking_items_after_a_failure() -> None:
    assert map_in_workers(lambda n: n * n, list(range(50)), 3) == [n * n for n in range(50)]
    assert map_in_workers(lambda n: n, [], 2) == []
    started: list[int] = []
    lock = threading.Lock()

    def fail_on_first(n: int) -> int:
        with lock:
            started.append(n)
        if n == 0:
            raise ValueError("item 0")
        return n

    with pytest.raises(ValueError, match="item 0"):
        map_in_workers(fail_on_first, list(range(1000)), 2)
    assert len(started) < 1000  # the other worker took at most a few more once item 0 had failed


def test_a_built_manifest_parses_back_to_itself_not_to_a_second_copy() -> None:
    layers = [Descriptor(mediaType=RAW, digest=digests.of_bytes(b"%d" % i), size=1) for i in range(3)]
    manifest = Manifest(config=layers[0], layers=layers)
    data = encode_manifest(manifest)
    assert data == manifest.canonical_bytes()
    assert parse_manifest(data) is manifest
    assert parse_manifest(bytes(data)) is manifest  # equal bytes, not only the same object


def test_descriptors_and_packing_records_have_no_per_instance_dict(tmp_path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / "b.json").write_bytes(b"{}")
    model = build(tmp_path, ModelMetadata(name="m"))
    source = select_layers(tmp_path, model.metadata.files)[0]
    for record in (model.manifest, model.manifest.config, model.layers[0], model.layers[0].descriptor, source,
                   source.files[0]):
        assert not hasattr(record, "__dict__"), type(record).__name__
    assert isinstance(source.files[0].path, str)  # not a Path: ~0.3 KB more per file
    assert model.manifest.layers[0]._extra == {}
    assert model.manifest.layers[0]._extra is model.manifest.layers[1]._extra  # one shared, empty


def test_blob_pipeline_lets_go_of_jobs_that_succeeded() -> None:
    dst = MemoryStore()
    with BlobPipeline(dst, CopyOptions(workers=2)) as pipeline:
        for i in range(40):
            data = b"blob %d" % i
            pipeline.submit(Descriptor(mediaType=RAW, digest=digests.of_bytes(data), size=len(data)),
                            lambda data=data: io.BytesIO(data))  # type: ignore[misc]
    assert len(pipeline.copied) == 40
    assert not pipeline._futures  # every job succeeded: none is kept


def test_a_packed_model_opens_each_layer_by_digest(tmp_path) -> None:
    (tmp_path / "a.bin").write_bytes(b"same")
    (tmp_path / "b.bin").write_bytes(b"same")  # equal bytes: one blob
    (tmp_path / "c.bin").write_bytes(b"other")
    model = build(tmp_path, ModelMetadata(name="m"))
    for layer in model.manifest.layers:
        with model.open_blob(layer) as stream:
            assert digests.of_bytes(stream.read()) == layer.digest
    with pytest.raises(NotFoundError):
        model.open_blob(Descriptor(mediaType=RAW, digest=digests.of_bytes(b"absent"), size=6))
