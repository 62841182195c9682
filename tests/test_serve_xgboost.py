"""`serve` on XGBoost models in XGBoost's own formats (.ubj, .json, .bst), against tritonclient's HTTP (JSON and
binary) and gRPC clients: metadata declares the datatypes and shapes the objective gives, predictions are
XGBoost's own, and a stray pickle beside the model is never loaded."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpc_client
import tritonclient.http as triton
import xgboost
from sklearn.datasets import load_diabetes, load_iris
from tritonclient.utils import InferenceServerException

import modelpack as mp
from modelpack.errors import UsageError
from modelpack.store.options import ClientOptions
from registry_process import Registry
from serving import call
from test_serve_trust import Hostile

PLAIN = ClientOptions(plain_http=True)
IRIS_X, IRIS_Y = load_iris(return_X_y=True)
ROWS = IRIS_X[[0, 60, 120, 149]].astype(np.float32)


def folder_with(root: Path, name: str, model: Any, file_name: str, framework: str | None = "xgboost") -> Path:
    folder = root / name
    folder.mkdir()
    model.save_model(folder / file_name)
    declared = f"framework: {framework}\n" if framework else ""
    (folder / "modelpack.yaml").write_text(f"name: {name}\nversion: '3'\n{declared}")
    return folder


def client(base: str) -> Any:
    return triton.InferenceServerClient(base.removeprefix("http://"))


@pytest.mark.parametrize("binary", [True, False])
def test_multiclass_ubj_pulled_from_a_registry(serving: Any, registry: Registry, tmp_path: Path, binary: bool) -> None:
    model = xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(IRIS_X, IRIS_Y)
    ref = registry.repo() + ":3"
    digest = mp.push(folder_with(tmp_path, "iris-xgb", model, "model.ubj"), ref, options=PLAIN).descriptor.digest
    mp.pull(ref, output=tmp_path / "pulled", options=PLAIN)
    tc = client(serving(tmp_path / "pulled"))
    meta = tc.get_model_metadata("iris-xgb", "3")
    assert meta["platform"] == "xgboost" and meta["parameters"]["digest"] == digest
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}]
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]},
                               {"name": "predict_proba", "datatype": "FP32", "shape": [-1, 3]}]
    tensor = triton.InferInput("input-0", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=binary)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("predict", "predict_proba")]
    result = tc.infer("iris-xgb", [tensor], outputs=outputs)
    assert result.as_numpy("predict").dtype == np.int64 and result.as_numpy("predict_proba").dtype == np.float32
    assert result.as_numpy("predict").tolist() == model.predict(ROWS).tolist()
    assert np.allclose(result.as_numpy("predict_proba"), model.predict_proba(ROWS), atol=1e-6)


def test_binary_json_model_beside_other_json_files(serving: Any, tmp_path: Path) -> None:
    labels = (IRIS_Y == 2).astype(int)
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(IRIS_X, labels)
    folder = folder_with(tmp_path, "virginica", model, "model.json", framework=None)
    (folder / "config.json").write_text('{"learner": "not the first key here", "n": 1}')
    (folder / "tokenizer.json").write_text("[1, 2]")
    tc = client(serving(folder))
    assert tc.get_model_metadata("virginica", "3")["outputs"][1] == {
        "name": "predict_proba", "datatype": "FP32", "shape": [-1, 2]}
    tensor = triton.InferInput("input-0", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=True)
    result = tc.infer("virginica", [tensor])
    assert result.as_numpy("predict").tolist() == model.predict(ROWS).tolist()
    assert np.allclose(result.as_numpy("predict_proba"), model.predict_proba(ROWS), atol=1e-6)


@pytest.mark.filterwarnings("ignore:.*UBJSON format as default")
def test_regressor_bst_over_grpc_and_its_errors(grpc_serving: Any, tmp_path: Path) -> None:
    features, target = load_diabetes(return_X_y=True)
    model = xgboost.XGBRegressor(n_estimators=10, max_depth=3).fit(features, target)
    _, address = grpc_serving(folder_with(tmp_path, "diabetes", model, "model.bst"))
    grpc = grpc_client.InferenceServerClient(address)
    meta = grpc.get_model_metadata("diabetes", "3")
    assert [(i.name, i.datatype, list(i.shape)) for i in meta.inputs] == [("input-0", "FP32", [-1, 10])]
    assert [(o.name, o.datatype, list(o.shape)) for o in meta.outputs] == [("predict", "FP32", [-1])]
    rows = features[:5].astype(np.float32)
    tensor = grpc_client.InferInput("input-0", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    predicted = grpc.infer("diabetes", [tensor]).as_numpy("predict")
    assert predicted.dtype == np.float32 and np.allclose(predicted, model.predict(rows), rtol=1e-5)
    narrow = grpc_client.InferInput("input-0", [1, 3], "FP32")
    narrow.set_data_from_numpy(np.ones((1, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match=r"shape \[1, 3\] does not match the model's \[-1, 10\]") as bad:
        grpc.infer("diabetes", [narrow])
    assert bad.value.status() == "StatusCode.INVALID_ARGUMENT"


def test_wrong_input_is_a_400_and_a_stray_pickle_is_never_loaded(serving: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(IRIS_X, IRIS_Y)
    folder = folder_with(tmp_path, "mixed", model, "model.ubj")
    (folder / "model.pkl").write_bytes(pickle.dumps(Hostile(marker)))
    base = serving(folder)
    status, body = call(f"{base}/v2/models/mixed/infer", {"inputs": [
        {"name": "input-0", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})
    assert status == 400 and "shape [1, 3] does not match the model's [-1, 4]" in body["error"]
    tc = client(base)
    tensor = triton.InferInput("input-0", [1, 4], "BYTES")
    tensor.set_data_from_numpy(np.array([[b"a", b"b", b"c", b"d"]], dtype=object))
    with pytest.raises(InferenceServerException, match="features must be numbers"):
        tc.infer("mixed", [tensor])
    assert not marker.exists()


def test_a_corrupt_model_file_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.ubj").write_bytes(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{" + os.urandom(64))
    with pytest.raises(UsageError, match=r"model\.ubj: cannot load it \(") as refused:
        mp.serve_model(folder, port=0)
    assert "\n" not in str(refused.value)
