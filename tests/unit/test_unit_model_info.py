"""ModelInfo: the typed view of a model, built the same way whatever the source."""

from __future__ import annotations

import json
from pathlib import Path

import modelpack as mp
from modelpack.model_diff import diff_models
from modelpack.model_info import ModelInfo
from modelpack.oci.descriptor import Index, parse_manifest
from modelpack.store.memory import MemoryStore
from modelpack.store.target import read_small


def _info(tmp_path: Path, yaml: str, name: str = "m") -> ModelInfo:
    model = tmp_path / name
    model.mkdir()
    (model / "model.onnx").write_bytes(b"onnx bytes")
    (model / "README.md").write_text("# readme\n")
    (model / "modelpack.yaml").write_text(yaml)
    packed = mp.describe(model)
    store = MemoryStore()
    from modelpack.store.copy import copy

    copy(packed, store, packed.descriptor.digest, "1")
    desc, data = store.fetch_manifest("1")
    node = parse_manifest(data)
    assert not isinstance(node, Index)
    config = json.loads(read_small(store, node.config, 1 << 20))
    return ModelInfo.read("memory:1", desc, node, config)


def test_the_typed_fields_come_from_the_artifact(tmp_path: Path) -> None:
    info = _info(tmp_path, "name: iris\nversion: '1.2'\nframework: onnx\n"
                           "metrics: {accuracy: 0.93}\nparent: localhost:5000/t/base@sha256:"
                           + "a" * 64 + "\n")
    assert (info.name, info.version, info.framework) == ("iris", "1.2", "onnx")
    assert info.metrics == {"accuracy": 0.93}
    # Another tool's artifact may record anything as a metric: only finite numbers are metrics.
    odd = ModelInfo(info.reference, info.descriptor, info.manifest, None,
                    {"metrics": {"f1": 1, "note": "good", "flag": True, "bad": float("nan")}})
    assert odd.metrics == {"f1": 1.0} and odd.name is None
    assert info.parent is not None and info.parent.endswith("a" * 64)
    assert {f.path: f.kind for f in info.files} == {"model.onnx": "weight", "README.md": "doc"}
    assert info.total_size == sum(f.size for f in info.files) and info.children == []
    out = info.to_json()
    assert out["digest"] == info.digest and out["metadata"]["name"] == "iris"
    assert [layer["path"] for layer in out["layers"]] == [f.path for f in info.files]


def test_diff_reads_two_infos(tmp_path: Path) -> None:
    old = _info(tmp_path, "name: iris\nversion: '1'\nmetrics: {accuracy: 0.9}\n", "a")
    new = _info(tmp_path, "name: iris\nversion: '2'\nmetrics: {accuracy: 0.95}\n", "b")
    changes = diff_models(old, new).to_json()
    assert changes["metrics"]["accuracy"] == {"old": 0.9, "new": 0.95}
    assert changes["files"]["changed"] == []  # same files, same bytes


def test_an_index_refusal_names_the_model_a_signature_tag_belongs_to() -> None:
    from modelpack.model_info import index_refusal

    hexd = "ab" * 32
    said = index_refusal(f"localhost:5000/team/iris:sha256-{hexd}.sig", "is an index")
    assert said.endswith(f"name the model itself: localhost:5000/team/iris@sha256:{hexd}")
    # Any other index, or one named by digest, is only called an index
    multi = "localhost:5000/team/iris:multi"
    assert index_refusal(multi, "is an index") == f"{multi} is an index"
    pinned = f"localhost:5000/team/iris@sha256:{hexd}"
    assert index_refusal(pinned, "is an index") == f"{pinned} is an index"
