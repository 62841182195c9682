"""Modelcars for KServe's TensorFlow and PyTorch runtimes, laid out where those runtimes look, as KServe's
ClusterServingRuntimes run them (kserve/kserve config/runtimes): TF Serving `--model_base_path=/mnt/models`
(numbered version folders, protocol v1 only) and TorchServe `--model-store=/mnt/models/model-store
--ts-config=/mnt/models/config/config.properties`. Neither server is installable here: what is checked is
the image's files and the InferenceService, against those documented command lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import modelpack
from registry_process import Registry
from test_image import crane, exported
from test_modelcar import _car, _onnx_isvc, _push
from test_serve_trust import assert_one_line

pytestmark = pytest.mark.interop

SAVED_MODEL = {"saved_model.pb": b"\x08\x01 graph", "variables/variables.index": b"index",
               "variables/variables.data-00000-of-00001": b"w" * 100, "fingerprint.pb": b"fp"}


def test_a_savedmodel_goes_in_tf_servings_version_folder_served_with_protocol_v1(
        registry: Registry, tmp_path: Path, crane_bin: Path) -> None:
    ref = _push(registry, tmp_path, SAVED_MODEL, "name: tf\nframework: tensorflow\n")
    run, image = _car(registry, ref)
    assert run.code == 0, run.err
    files = exported(crane_bin, image)
    assert files["models/1/saved_model.pb"][0] == SAVED_MODEL["saved_model.pb"]
    assert {"models/1/variables/variables.index", "models/1/variables/variables.data-00000-of-00001"} <= set(files)
    assert not [f for f in files if f.startswith("models/") and not f.startswith("models/1/")]
    assert json.loads(crane(crane_bin, "manifest", image))["annotations"]["io.modelpack.modelcar.layout"] == \
        "tfserving"
    model = _onnx_isvc(registry, image)
    # v2 would make KServe pick Triton (tensorflow, priority 1), which wants NAME/1/model.savedmodel/
    assert (model["modelFormat"]["name"], model["protocolVersion"]) == ("tensorflow", "v1")


def test_a_savedmodel_already_in_version_folders_stays_as_it_is(registry: Registry, tmp_path: Path,
                                                                 crane_bin: Path) -> None:
    ref = _push(registry, tmp_path, {f"3/{name}": data for name, data in SAVED_MODEL.items()},
                "name: tf\nframework: tensorflow\n")
    run, image = _car(registry, ref)
    assert run.code == 0, run.err
    assert "models/3/saved_model.pb" in exported(crane_bin, image)
    assert _onnx_isvc(registry, image)["protocolVersion"] == "v1"


def test_a_keras_file_is_no_savedmodel_and_k8s_says_so(registry: Registry, tmp_path: Path) -> None:
    ref = _push(registry, tmp_path, {"model.keras": b"PK\x03\x04 keras"}, "name: k\nframework: tensorflow\n")
    run, image = _car(registry, ref)
    assert run.code == 0, run.err
    refused = modelpack("k8s", "--plain-http", "--kind", "kserve", image)
    assert_one_line(refused.err, 2, refused.code, "TF Serving", "/mnt/models/1/saved_model.pb", "--modelcar")
    assert refused.out == ""


def test_torchserve_needs_the_model_store_and_config_the_model_holds(registry: Registry, tmp_path: Path) -> None:
    laid_out = _push(registry, tmp_path, {"model-store/mnist.mar": b"PK\x03\x04 mar",
                                          "config/config.properties": b"load_models=all\n"},
                     "name: mnist\nframework: pytorch\n")
    run, image = _car(registry, laid_out, "--trust-unverified-pickle")  # a .mar holds torch.save's pickles
    assert run.code == 0, run.err
    model = _onnx_isvc(registry, image, "--trust-unverified-pickle")  # k8s reads the .mar in the image too
    assert (model["modelFormat"]["name"], model["protocolVersion"]) == ("pytorch", "v2")


def test_a_pytorch_modelcar_without_torchserves_files_is_refused_by_k8s(registry: Registry, tmp_path: Path) -> None:
    ref = _push(registry, tmp_path, {"mnist.mar": b"PK\x03\x04 mar"}, "name: flat\nframework: pytorch\n")
    run, image = _car(registry, ref, "--trust-unverified-pickle")
    assert run.code == 0, run.err
    refused = modelpack("k8s", "--plain-http", "--kind", "kserve", image)
    assert_one_line(refused.err, 2, refused.code, "TorchServe", "model-store/NAME.mar", "config/config.properties",
                    "--model-format")
    assert yaml.safe_load(refused.out) is None


def test_the_docker_modelcar_context_has_tf_servings_layout(registry: Registry, tmp_path: Path) -> None:
    """`--docker --modelcar` lays the unpacked model out the same way (no engine needed to check it)."""
    import modelpack as mp
    from modelpack.image.docker_build import arrange_modelcar, checked_digest
    from test_serve_trust import PLAIN

    ref = _push(registry, tmp_path, SAVED_MODEL, "name: tf\nframework: tensorflow\n")
    digest, annotations, _ = checked_digest(mp.Reference.parse(ref), True, PLAIN, None, False)
    pinned = mp.Reference.parse(ref).with_digest(digest)
    mp.pull(pinned, options=PLAIN)
    context = tmp_path / "context"
    mp.unpack(pinned, context / "models")
    assert arrange_modelcar(context, annotations, pinned.repository).name == "tfserving"
    files = {str(p.relative_to(context)) for p in context.rglob("*") if p.is_file()}
    assert {f"models/1/{name}" for name in SAVED_MODEL} <= files and all(f.startswith("models/1/") for f in files)
