"""The serving image for real: a debootstrapped Debian with python3 as the base, `build-image` installs
modelpack[serve] on it with pip (no Docker), the image's rootfs is exported with crane, and its
entrypoint runs in a chroot as the image's user and answers inference under the model's name."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import modelpack as mp
from debian_base import push_debian_base_or_skip
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from serving import call
from test_image import crane

PLAIN = ClientOptions(plain_http=True)
pytestmark = [pytest.mark.slow, pytest.mark.interop]
WEIGHTS = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.0]], dtype=np.float32)
BIAS = np.array([0.25, -1.0], dtype=np.float32)


def _onnx_model(folder: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor("W", TensorProto.FLOAT, [3, 2], WEIGHTS.reshape(-1).tolist()),
         helper.make_tensor("b", TensorProto.FLOAT, [2], BIAS.tolist())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True)
    onnx.save(model, folder / "model.onnx")
    (folder / "modelpack.yaml").write_text("name: linear-regressor\nversion: '2.0'\nframework: onnx\n")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the entrypoint exited with {proc.returncode}: "
                                 f"{proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready in time")


def test_serving_image_runs_from_its_rootfs_in_a_chroot(registry: Registry, crane_bin: Path,
                                                       tmp_path: Path) -> None:
    base = registry.repo("pybase") + ":bookworm"
    push_debian_base_or_skip(base, PLAIN)
    model_ref = registry.repo("linear") + ":2.0"
    model_digest = mp.push(_onnx_model(tmp_path / "model"), model_ref,
                           options=PLAIN).descriptor.digest
    image = registry.repo("linear-serve") + ":2.0"

    started = time.monotonic()
    built = modelpack("build-image", "--plain-http", "--json", model_ref, "-t", image, "--base", base, timeout=1800)
    first_build = time.monotonic() - started
    assert built.code == 0, built.err
    started = time.monotonic()
    again = modelpack("build-image", "--plain-http", "--json", model_ref, "-t", image + "-again", "--base", base,
                      timeout=1800)
    second_build = time.monotonic() - started
    assert again.code == 0, again.err
    assert json.loads(again.out)["digest"] == json.loads(built.out)["digest"]  # reproducible, and cached

    manifest = json.loads(crane(crane_bin, "manifest", image))
    config = json.loads(crane(crane_bin, "config", image))
    settings = config["config"]
    labels = settings["Labels"]
    assert labels["io.modelpack.serve.python"] == "3.11"  # bookworm's, found in the layer's listing
    assert labels["io.modelpack.serve.python.found-by"] == "layers"
    assert labels["io.modelpack.serve.python.interpreter"] == "/usr/bin/python3.11"
    assert labels["io.modelpack.serve.platform"] == "manylinux_2_28_x86_64"
    assert "onnxruntime==" in labels["io.modelpack.serve.installed"]
    assert labels["io.modelpack.model.digest"] == model_digest
    assert settings["User"] == "10001:10001"
    assert "PYTHONPATH=/opt/modelpack/lib" in settings["Env"]
    assert settings["Entrypoint"][:3] == ["modelpack", "serve", "/models"]
    assert len(manifest["layers"]) == len(config["rootfs"]["diff_ids"]) == 4  # base, requirements, modelpack, model

    root = tmp_path / "rootfs"
    root.mkdir()
    flat = tmp_path / "image.tar"  # the flattened filesystem, to a file: several hundred MB
    crane(crane_bin, "export", image, str(flat))
    with tarfile.open(flat) as tar:
        tar.extractall(root, filter="fully_trusted")
    flat.unlink()
    env = dict(entry.split("=", 1) for entry in settings["Env"])
    port = _free_port()
    started = time.monotonic()
    proc = subprocess.Popen(["chroot", f"--userspec={settings['User']}", str(root), *settings["Entrypoint"],
                             "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(f"{url}/v2/health/ready", proc, time.monotonic() + 120)
        ready = time.monotonic() - started
        status, meta = call(f"{url}/v2/models/linear-regressor")
        assert status == 200 and meta["name"] == "linear-regressor" and meta.get("versions", ["2.0"])[0] == "2.0"
        x = np.array([[1, 2, 3], [0.5, -1, 4]], dtype=np.float32)
        tensor = {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": x.reshape(-1).tolist()}
        status, result = call(f"{url}/v2/models/linear-regressor/infer", {"inputs": [tensor]})
        assert status == 200, result
        assert result["model_name"] == "linear-regressor"
        assert np.allclose(result["outputs"][0]["data"], (x @ WEIGHTS + BIAS).reshape(-1))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    size = sum(layer["size"] for layer in manifest["layers"])
    print(f"\nserving image: {size / 1e6:.0f} MB compressed ({manifest['layers'][1]['size'] / 1e6:.0f} MB serving "
          f"packages); build {first_build:.1f} s, again (cached) {second_build:.1f} s; start to ready {ready:.1f} s")
    assert second_build < first_build
