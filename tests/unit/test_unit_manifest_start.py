"""Whether a blob's first bytes could be a manifest (oci/manifest_start): every cut of a real manifest or
index could be one; a config, a JSON file or a binary layer cannot once its first key (or byte) is read."""

from __future__ import annotations

import json

from modelpack.oci.manifest_start import could_be_manifest

LAYER = {"mediaType": "application/vnd.cncf.model.weight.v1.raw", "digest": "sha256:" + "a" * 64, "size": 12,
         "annotations": {"org.cncf.model.filepath": "w.safetensors"}}
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {**LAYER, "mediaType": "application/vnd.cncf.model.config.v1+json"},
                       "layers": [LAYER] * 20}).encode()
INDEX = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [LAYER] * 3}, indent=3).encode()
CONFIG = json.dumps({"descriptor": {"name": "m"}, "modelfs": {"type": "layers", "diffIds": []},
                     "config": {}}).encode()


def test_every_cut_of_a_manifest_or_an_index_could_be_one() -> None:
    for document in (MANIFEST, INDEX, b'  {"mediaType": "x", "config": {"a": 1}, "schemaVersion" : 2}'):
        assert could_be_manifest(document, whole=True)
        assert all(could_be_manifest(document[:cut], whole=False) for cut in range(len(document)))


def test_a_config_a_json_file_or_a_binary_layer_is_none() -> None:
    key_read = len(b'{"descriptor":')
    assert not any(could_be_manifest(CONFIG[:cut], whole=False) for cut in range(key_read, len(CONFIG)))
    assert not could_be_manifest(CONFIG, whole=True)
    assert not could_be_manifest(b'{"architectures": ["Llama"], "vocab_size": 32000', whole=False)
    assert not could_be_manifest(b'{"architecture": "amd64", "os": "linux", "rootfs"', whole=False)
    assert not could_be_manifest(b"\x08\x00\x00\x00\x00\x00\x00\x00{}", whole=False)  # a safetensors header
    assert not could_be_manifest(b"\x1f\x8b\x08\x00", whole=False)  # gzip
    assert not could_be_manifest(b"{}", whole=True)  # no schemaVersion
    assert not could_be_manifest(b'{"schemaVersion": 1, "fsLayers": []}', whole=True)
    assert not could_be_manifest(b'{"mediaType": "x", "layers": [], ', whole=True)  # cut: not whole JSON
    assert not could_be_manifest(b"", whole=True)


def test_bytes_that_end_before_anything_is_told_could_be_one() -> None:
    for start in (b"", b"  ", b"{", b'{"media', b'{"mediaType": "application/vnd.oci.image.man'):
        assert could_be_manifest(start, whole=False)
