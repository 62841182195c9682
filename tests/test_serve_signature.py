"""Inference inputs checked against the model's declared inputs (`serve/signature_check`), as Triton checks
them: an unknown input, a missing one and a shape the model does not take are a 400 `{"error": ...}` over
REST and INVALID_ARGUMENT over gRPC, said by the server, not by the runtime's own error; a model that takes
one unnamed matrix (scikit-learn, XGBoost) takes it under any name, as KServe's sklearnserver does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import tritonclient.http as triton
from onnx import TensorProto, helper
from tritonclient.utils import InferenceServerException

from serve_models import iris_skops, typed_onnx
from serving import call

grpc_client = pytest.importorskip("tritonclient.grpc")

ROW = [5.1, 3.5, 1.4, 0.2]


def typed_body(**changes: dict[str, Any] | None) -> dict[str, Any]:
    """A request for `typed_onnx` (x [2, 3], flags [2], text [2]); a change replaces (None: drops) an input."""
    inputs = {"x": {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]},
              "flags": {"name": "flags", "shape": [2], "datatype": "UINT8", "data": [1, 2]},
              "text": {"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}}
    inputs.update(changes)
    return {"inputs": [tensor for tensor in inputs.values() if tensor is not None]}


def test_an_onnx_model_refuses_unknown_missing_and_misshapen_inputs(serving: Any, tmp_path: Path) -> None:
    url = serving(typed_onnx(tmp_path / "typed")) + "/v2/models/typed/infer"
    assert call(url, typed_body())[0] == 200
    status, body = call(url, typed_body(z={"name": "z", "shape": [1], "datatype": "FP32", "data": [1]}))
    assert status == 400 and body["error"].startswith("unknown input 'z'; the model's inputs are x FP32 [-1, 3]")
    status, body = call(url, typed_body(text=None))
    assert status == 400 and body["error"].startswith("missing input 'text'; the model's inputs are"), body
    wide = {"name": "x", "shape": [2, 4], "datatype": "FP32", "data": list(range(8))}
    status, body = call(url, typed_body(x=wide))
    assert status == 400 and body["error"] == "input 'x': shape [2, 4] does not match the model's [-1, 3] " \
                                              "(-1: any size)", body
    flat = {"name": "x", "shape": [6], "datatype": "FP32", "data": list(range(6))}
    status, body = call(url, typed_body(x=flat))
    assert status == 400 and "shape [6] does not match the model's [-1, 3]" in body["error"]


def test_a_lone_onnx_input_is_not_renamed(serving: Any, tmp_path: Path) -> None:
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "lone",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "lone").mkdir()
    onnx.save(model, tmp_path / "lone" / "model.onnx")
    url = serving(tmp_path / "lone", name="lone") + "/v2/models/lone/infer"
    tensor = {"shape": [1, 2], "datatype": "FP32", "data": [1, 2]}
    assert call(url, {"inputs": [{"name": "x", **tensor}]})[0] == 200
    status, body = call(url, {"inputs": [{"name": "features", **tensor}]})
    assert status == 400 and body["error"] == "unknown input 'features'; the model's inputs are x FP32 [-1, 2]"


def test_an_onnx_input_of_unrecorded_shape_takes_any(serving: Any, tmp_path: Path) -> None:
    """onnxruntime declares such an input as [], as it does a scalar: its shape is not checked."""
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "free",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "free").mkdir()
    onnx.save(model, tmp_path / "free" / "model.onnx")
    url = serving(tmp_path / "free", name="free") + "/v2/models/free/infer"
    status, body = call(url, {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1] * 6}]})
    assert status == 200 and body["outputs"][0]["shape"] == [2, 3], body


def test_a_scikit_learn_model_takes_one_matrix_under_any_name(serving: Any, tmp_path: Path) -> None:
    folder, model = iris_skops(tmp_path / "iris")
    url = serving(folder) + "/v2/models/iris/infer"
    status, body = call(url, {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64", "data": ROW}]})
    assert status == 200 and body["outputs"][0]["data"] == model.predict([ROW]).tolist()
    status, body = call(url, {"inputs": [{"name": "input-0", "shape": [4], "datatype": "FP64", "data": ROW}]})
    assert status == 400 and body["error"] == "input 'input-0': shape [4] does not match the model's [-1, 4] " \
                                              "(-1: any size)", body
    two = [{"name": n, "shape": [1, 4], "datatype": "FP64", "data": ROW} for n in ("a", "b")]
    status, body = call(url, {"inputs": two})
    assert status == 400 and body["error"] == "the model takes one input (input-0 FP64 [-1, 4]); 2 were given: " \
                                              "'a', 'b'", body
    crowded = {"inputs": [{"name": f"n{i}", "shape": [1, 4], "datatype": "FP64", "data": ROW} for i in range(50)]}
    status, body = call(url, crowded)  # the error stays one short line
    assert status == 400 and body["error"].endswith("50 were given: 'n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', "
                                                    "'n7' and 42 more"), body


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_http_is_told_which_input_is_wrong(serving: Any, tmp_path: Path, binary: bool) -> None:
    tc = triton.InferenceServerClient(serving(typed_onnx(tmp_path / "typed")).removeprefix("http://"))
    x = triton.InferInput("x", [1, 3], "FP32")
    x.set_data_from_numpy(np.ones((1, 3), dtype=np.float32), binary_data=binary)
    flags = triton.InferInput("flags", [1], "UINT8")
    flags.set_data_from_numpy(np.ones(1, dtype=np.uint8), binary_data=binary)
    with pytest.raises(InferenceServerException, match="missing input 'text'") as missing:
        tc.infer("typed", [x, flags])
    assert missing.value.status() == "400"
    wide = triton.InferInput("x", [1, 1, 3], "FP32")
    wide.set_data_from_numpy(np.ones((1, 1, 3), dtype=np.float32), binary_data=binary)
    text = triton.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([b"t"], dtype=object), binary_data=binary)
    with pytest.raises(InferenceServerException, match=r"shape \[1, 1, 3\] does not match the model's \[-1, 3\]"):
        tc.infer("typed", [wide, flags, text])
    short = triton.InferInput("x", [1, 3], "FP32")
    short.set_data_from_numpy(np.ones((1, 3), dtype=np.float32), binary_data=binary)
    short.set_shape([2, 3])  # the data fill one row, the shape says two
    with pytest.raises(InferenceServerException, match=r"shape \[2, 3\]") as unfilled:
        tc.infer("typed", [short, flags, text])
    assert unfilled.value.status() == "400"


def test_tritonclient_grpc_gets_invalid_argument(grpc_serving: Any, tmp_path: Path) -> None:
    _, target = grpc_serving(typed_onnx(tmp_path / "typed"))
    client = grpc_client.InferenceServerClient(target)
    stray = grpc_client.InferInput("stray", [1, 3], "FP32")
    stray.set_data_from_numpy(np.ones((1, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="unknown input 'stray'") as unknown:
        client.infer("typed", [stray])
    assert unknown.value.status() == "StatusCode.INVALID_ARGUMENT"
    folder, _ = iris_skops(tmp_path / "iris")
    _, target = grpc_serving(folder)
    client = grpc_client.InferenceServerClient(target)
    flat = grpc_client.InferInput("input-0", [4], "FP64")
    flat.set_data_from_numpy(np.array(ROW))
    with pytest.raises(InferenceServerException, match=r"shape \[4\] does not match the model's \[-1, 4\]") as bad:
        client.infer("iris", [flat])
    assert bad.value.status() == "StatusCode.INVALID_ARGUMENT"
