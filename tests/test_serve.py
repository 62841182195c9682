"""The V2 inference server with real predictions: a trained scikit-learn model and an ONNX model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import modelpack as mp
from modelpack.store.options import ClientOptions
from registry_process import Registry
from serving import call

PLAIN = ClientOptions(plain_http=True)


@pytest.fixture
def iris_model(tmp_path: Path) -> tuple[Path, Any]:
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    folder = tmp_path / "iris"
    folder.mkdir()
    joblib.dump(model, folder / "model.joblib")
    (folder / "modelpack.yaml").write_text("name: iris\nversion: '1.0'\nframework: scikit-learn\n"
                                           "metrics: {accuracy: 0.97}\n")
    return folder, model


def test_sklearn_model_served_from_a_registry(registry: Registry, serving: Any, iris_model: tuple[Path, Any]) -> None:
    folder, model = iris_model
    ref = registry.repo() + ":1.0"
    digest = mp.push(folder, ref, options=PLAIN).descriptor.digest
    base = serving(ref, options=PLAIN, trust_unverified_pickle=True)  # a pickle, unsigned: opted in
    assert call(f"{base}/v2/health/live") == (200, {"live": True})
    assert call(f"{base}/v2/health/ready")[0] == 200
    status, meta = call(f"{base}/v2/models/iris")
    assert status == 200 and meta["versions"] == ["1.0"] and meta["platform"] == "sklearn"
    assert meta["parameters"]["digest"] == digest and meta["parameters"]["metrics"] == {"accuracy": 0.97}
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
    status, result = call(f"{base}/v2/models/iris/infer", {"id": "r1", "inputs": [
        {"name": "input-0", "shape": [3, 4], "datatype": "FP64", "data": np.array(rows).reshape(-1).tolist()}]})
    assert status == 200 and result["id"] == "r1"
    outputs = {o["name"]: o for o in result["outputs"]}
    assert outputs["predict"]["data"] == model.predict(np.array(rows)).tolist()
    assert outputs["predict_proba"]["shape"] == [3, 3]
    assert np.allclose(outputs["predict_proba"]["data"], model.predict_proba(np.array(rows)).reshape(-1))


def test_malformed_requests_get_400_or_404(serving: Any, iris_model: tuple[Path, Any]) -> None:
    base = serving(iris_model[0])
    assert call(f"{base}/v2/models/iris/infer", b"{not json")[0] == 400
    assert call(f"{base}/v2/models/iris/infer", {"inputs": []})[0] == 400
    bad_shape = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3]}]}
    status, body = call(f"{base}/v2/models/iris/infer", bad_shape)
    assert status == 400 and "shape" in body["error"]
    wrong_width = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}
    assert call(f"{base}/v2/models/iris/infer", wrong_width)[0] == 400
    bad_type = {"inputs": [{"name": "x", "shape": [1], "datatype": "NOPE", "data": [1]}]}
    assert call(f"{base}/v2/models/iris/infer", bad_type)[0] == 400
    assert call(f"{base}/v2/models/other/infer", wrong_width)[0] == 404
    assert call(f"{base}/v2/nothing")[0] == 404


def test_onnx_model_predictions(serving: Any, tmp_path: Path) -> None:
    weights = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.0]], dtype=np.float32)
    bias = np.array([0.25, -1.0], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor("W", TensorProto.FLOAT, [3, 2], weights.reshape(-1).tolist()),
         helper.make_tensor("b", TensorProto.FLOAT, [2], bias.tolist())],
    )
    folder = tmp_path / "linear"
    folder.mkdir()
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, folder / "model.onnx")
    base = serving(folder, name="linear")
    status, meta = call(f"{base}/v2/models/linear")
    assert status == 200 and meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
    x = np.array([[1, 2, 3], [0.5, -1, 4]], dtype=np.float32)
    tensor = {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": x.reshape(-1).tolist()}
    status, result = call(f"{base}/v2/models/linear/infer", {"inputs": [tensor]})
    assert status == 200
    assert result["outputs"][0]["shape"] == [2, 2]
    assert np.allclose(result["outputs"][0]["data"], (x @ weights + bias).reshape(-1))
