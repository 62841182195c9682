"""A warning the library logs reaches the terminal escaped, like everything else a registry chose: here a
layer path with an escape sequence (a folder name is any bytes but `/`), and a Python warning a library
raises quoting what a model file holds."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import onnx
from onnx import TensorProto, helper

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from serve_models import iris_skops
from serving import call

EVIL = "evil\x1b]0;pwned\x07"  # OSC 0: retitles the terminal


def test_a_library_warning_is_escaped_on_the_terminal(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / EVIL).mkdir(parents=True)
    (model / EVIL / "a.txt").write_text("a")
    (model / "w.safetensors").write_bytes(b"w" * 64)
    (model / "modelpack.yaml").write_text('files: {archives: ["evil\\e]0;pwned\\a"]}\n')
    ref = registry.repo() + ":v1"
    mp.push(model, ref, options=ClientOptions(plain_http=True))

    out = modelpack("k8s", "--plain-http", "--kind", "image-volume", ref,
                    "--serving-image", f"{registry.host}/serving@sha256:{'0' * 64}")

    assert "image volume shows tar layers as single files" in out.err, out.err
    assert "evil\\x1b]0;pwned\\x07" in out.err
    assert "\x1b" not in out.err and "\x07" not in out.err


def served_stderr(ref: str, requests: Callable[[str], None] = lambda base: None) -> str:
    """What `modelpack serve REF` writes on stderr from its start until stopped, `requests` sent meanwhile."""
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", ref, "--plain-http", "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    lines = []
    try:
        while not (line := proc.stderr.readline()).startswith("serving on"):
            assert line, "serve exited before serving: " + "".join(lines)
            lines.append(line)
        requests(line.split()[-1])
    finally:
        proc.send_signal(signal.SIGTERM)
        err = "".join(lines) + proc.stderr.read()
        proc.wait(timeout=60)
    return err


def with_sklearn_version(skops_file: Path, version: str) -> None:
    """Rewrite the scikit-learn version a .skops file records (its schema.json, a JSON tree)."""
    with zipfile.ZipFile(skops_file) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}

    def rewrite(node: object) -> None:
        if isinstance(node, dict):
            if "_sklearn_version" in node:
                node["_sklearn_version"]["content"] = json.dumps(version)
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    schema = json.loads(members["schema.json"])
    rewrite(schema)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(skops_file, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_python_warning_quoting_the_model_is_escaped_on_the_terminal(registry: Registry, tmp_path: Path) -> None:
    # scikit-learn warns, through `warnings`, of a model saved by another version, quoting the version the
    # file records: a .skops file (served from a reference without any trust flag) chooses it.
    folder, _ = iris_skops(tmp_path / "iris")
    with_sklearn_version(folder / "model.skops", "0.1" + EVIL + "\nforged: line")
    ref = registry.repo() + ":1"
    mp.push(folder, ref, options=ClientOptions(plain_http=True))

    err = served_stderr(ref)

    assert "InconsistentVersionWarning" in err and "from version 0.1evil\\x1b]0;pwned\\x07\\nforged: line" in err
    assert "\x1b" not in err and "\x07" not in err
    assert not any(line.startswith("forged") for line in err.splitlines())


def test_onnxruntime_logs_naming_the_graphs_nodes_stay_off_the_terminal(registry: Registry, tmp_path: Path) -> None:
    # onnxruntime's own logger writes to fd 2 past Python: an unused initializer at load and a failing
    # node at each request, named as the model file names them. The failure reaches the client, in JSON.
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "s"], ["y"], name="node" + EVIL)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None]),
         helper.make_tensor_value_info("s", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("unused" + EVIL, TensorProto.FLOAT, [1], [1.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder = tmp_path / "reshape"
    folder.mkdir()
    onnx.save(model, folder / "model.onnx")
    (folder / "modelpack.yaml").write_text("name: reshape\nframework: onnx\n")
    ref = registry.repo() + ":1"
    mp.push(folder, ref, options=ClientOptions(plain_http=True))
    answers = []

    def reshape_three_into_five(base: str) -> None:
        answers.append(call(f"{base}/models/reshape/infer", {"inputs": [
            {"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]},
            {"name": "s", "shape": [1], "datatype": "INT64", "data": [5]}]}))

    err = served_stderr(ref, reshape_three_into_five)

    assert answers[0][0] in (400, 500) and "node" + EVIL in answers[0][1]["error"], answers  # JSON escapes it
    assert "\x1b" not in err and "\x07" not in err, err
