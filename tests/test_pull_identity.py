"""Identity survives a pull: pull -o and unpack restore modelpack.yaml, packing the pulled directory gives the
original manifest digest, and `serve` of it answers under the model's name, version and digest."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

import modelpack as mp
from helpers import make_tricky_model, modelpack, tree
from modelpack.store.options import ClientOptions
from registry_process import Registry
from serving import call

PLAIN = ClientOptions(plain_http=True)


def _age(root: Path) -> None:
    """Give every file its own old mtime, as a model trained some time ago has."""
    for n, path in enumerate(sorted(root.rglob("*"))):
        stamp = time.time() - 86_400 * 30 + n * 61
        os.utime(path, (stamp, stamp))


def test_pack_of_a_pulled_directory_gives_the_same_digest(registry: Registry, tmp_path: Path) -> None:
    model = make_tricky_model(tmp_path / "m")  # nested folders, an executable script, a read-only file
    (model / "modelpack.yaml").write_text(
        "name: tricky\nversion: '2.0'\nframework: pytorch\nmetrics: {accuracy: 0.5, f1: 1}\n"
        "hyperparameters: {lr: 1.0e-05, layers: [4, 8], note: '2024-01-01'}\nlabels: {stage: dev}\n"
        "datasets: [imagenet]\nlicenses: [MIT]\nauthors: [Ada]\n"
        "files: {kinds: {'*.txt': doc}}\n")
    _age(model)
    ref = registry.repo() + ":2.0"
    pushed = mp.push(model, ref, options=PLAIN).descriptor.digest
    out = tmp_path / "pulled"
    result = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert result.code == 0, result.err
    assert tree(out) == tree(model)  # contents and modes (the script stays executable)
    assert os.stat(out / "run model.sh").st_mode & 0o777 == 0o755
    text = (out / "modelpack.yaml").read_text()
    assert f"# modelpack-digest: {pushed}" in text and "name: tricky" in text
    again = modelpack("pack", str(out), "-t", registry.repo() + ":again")
    assert again.code == 0, again.err
    assert again.out.strip() == pushed
    # the same from the store: pull, unpack, pack
    mp.pull(ref, options=PLAIN)
    mp.unpack(ref, tmp_path / "unpacked")
    assert mp.pack(tmp_path / "unpacked", registry.repo() + ":third").descriptor.digest == pushed


def test_archives_and_compression_survive_the_round_trip(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / "tok" / "sub").mkdir(parents=True)
    (model / "tok" / "vocab.txt").write_text("a\nb\n")
    (model / "tok" / "sub" / "merges.txt").write_text("a b\n")
    (model / "w.safetensors").write_bytes(os.urandom(50_000))
    (model / "notes.md").write_text("# notes\n")
    (model / "modelpack.yaml").write_text("name: arch\nfiles: {archives: [tok], compress: zstd}\n")
    _age(model)
    ref = registry.repo() + ":1"
    pushed = mp.push(model, ref, options=PLAIN).descriptor.digest
    mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert mp.pack(tmp_path / "out", registry.repo() + ":2").descriptor.digest == pushed


def test_a_layer_named_modelpack_yaml_is_not_overwritten(registry: Registry, tmp_path: Path, oras_bin: Path) -> None:
    import subprocess

    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "modelpack.yaml").write_text("theirs: true\n")
    (folder / "w.bin").write_bytes(b"weights")
    ref = registry.repo() + ":oras"
    subprocess.run([str(oras_bin), "push", "--plain-http", ref, "modelpack.yaml", "w.bin"], cwd=folder,
                   check=True, capture_output=True)
    mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert (tmp_path / "out" / "modelpack.yaml").read_text() == "theirs: true\n"


def _onnx_model(folder: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "echo",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True)
    onnx.save(model, folder / "model.onnx")


def test_serve_of_a_pulled_directory_answers_under_the_models_name(registry: Registry, serving: Any,
                                                                   tmp_path: Path) -> None:
    _onnx_model(tmp_path / "m")
    (tmp_path / "m" / "modelpack.yaml").write_text("name: echo-net\nversion: '3.1'\n")
    ref = registry.repo() + ":3.1"
    pushed = mp.push(tmp_path / "m", ref, options=PLAIN).descriptor.digest
    out = tmp_path / "some-folder"
    mp.pull(ref, output=out, options=PLAIN)
    base = serving(out)
    status, meta = call(f"{base}/v2/models/echo-net")
    assert status == 200, meta
    assert meta["name"] == "echo-net" and meta["versions"] == ["3.1"]
    assert meta["parameters"]["digest"] == pushed
    status, result = call(f"{base}/v2/models/echo-net/versions/3.1/infer",
                          {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]})
    assert status == 200 and np.allclose(result["outputs"][0]["data"], [1, 2])
    assert call(f"{base}/v2/models/some-folder")[0] == 404


def test_a_tag_beside_a_digest_is_recorded_only_while_the_registry_agrees(registry: Registry,
                                                                          tmp_path: Path) -> None:
    # pull REPO:TAG@DIGEST fetches DIGEST; had the store recorded TAG for it while the registry's TAG names
    # another version, a later `push REPO:TAG` or `diff` would have taken the local TAG at its word.
    repo = registry.repo()
    digests = {}
    for version in ("1", "2"):
        model = tmp_path / f"m{version}"
        model.mkdir()
        (model / "weights.bin").write_bytes(version.encode() * 64)
        digests[version] = mp.push(model, f"{repo}:{version}", options=PLAIN).descriptor.digest

    def local() -> dict[str, str]:
        listed = modelpack("list", "--json")
        assert listed.code == 0, listed.err
        return {m["reference"]: m["digest"] for m in json.loads(listed.out)}

    wrong = modelpack("pull", "--plain-http", f"{repo}:1@{digests['2']}")
    assert wrong.code == 0, wrong.err
    assert "tag 1 of " in wrong.err and f"names {digests['1']}" in wrong.err and "without recording" in wrong.err
    assert f"{repo}:1" not in local()
    assert digests["2"] in local().values()  # pulled all the same, by its digest
    missing = modelpack("pull", "--plain-http", f"{repo}:9@{digests['2']}")
    assert missing.code == 0 and "does not exist" in missing.err
    right = modelpack("pull", "--plain-http", f"{repo}:1@{digests['1']}")
    assert right.code == 0 and "without recording" not in right.err
    assert local()[f"{repo}:1"] == digests["1"]
