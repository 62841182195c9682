"""Inference requests are checked against the Open Inference Protocol before they reach numpy or the model:
every datatype's range, JSON types of every field, requested outputs; responses are strict JSON."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import joblib
import onnx
import pytest
from onnx import TensorProto, helper
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import modelpack as mp

ROW = [5.1, 3.5, 1.4, 0.2]


def strict_call(base: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST `body`; the reply must be a complete response whose body is strict JSON (no NaN/Infinity)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()

    def refuse(token: str) -> Any:
        raise AssertionError(f"response carries {token}, which is not JSON: {data[:200]!r}")

    return resp.status, json.loads(data, parse_constant=refuse)


def tensor(datatype: str, data: Any, shape: list[int] | None = None, name: str = "features") -> dict[str, Any]:
    return {"name": name, "shape": shape if shape is not None else [1, len(data)], "datatype": datatype,
            "data": data}


@pytest.fixture(scope="module")
def iris_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the module: every test here only sends requests."""
    features, labels = load_iris(return_X_y=True)
    folder = tmp_path_factory.mktemp("iris")
    joblib.dump(LogisticRegression(max_iter=500).fit(features, labels), folder / "model.joblib")
    server = mp.serve_model(folder, host="127.0.0.1", port=0, name="iris")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def infer(base: str, request: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
    body = request if isinstance(request, bytes) else json.dumps(request).encode()
    return strict_call(base, "/v2/models/iris/infer", body)


@pytest.mark.parametrize(("datatype", "value"), [
    ("INT8", 1000), ("INT8", -129), ("INT16", 40000), ("INT32", 2 ** 31), ("INT64", 99999999999999999999999),
    ("UINT8", -1), ("UINT8", 300), ("UINT16", 65536), ("UINT32", -1), ("UINT64", 2 ** 64),
    ("FP16", 1e5), ("FP32", 1e300), ("FP64", 10 ** 400),
])
def test_values_out_of_their_datatypes_range_get_400_naming_input_and_type(
        iris_base: str, datatype: str, value: int | float, recwarn: pytest.WarningsRecorder) -> None:
    status, body = infer(iris_base, {"inputs": [tensor(datatype, [value, 1, 2, 3])]})
    assert status == 400, body
    assert "'features'" in body["error"] and datatype in body["error"] and "out of range" in body["error"]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_an_overflowing_float_literal_is_out_of_range(iris_base: str) -> None:
    body = b'{"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64", "data": [1e400, 1, 2, 3]}]}'
    status, reply = infer(iris_base, body)
    assert status == 400 and "FP64" in reply["error"]


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_tokens_are_not_json(iris_base: str, token: bytes) -> None:
    body = b'{"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64", "data": [' + token + b', 1, 2, 3]}]}'
    status, reply = infer(iris_base, body)
    assert status == 400 and token.decode().lstrip("-") in reply["error"]


@pytest.mark.parametrize(("datatype", "values"), [
    ("BOOL", [True, False, True, False]), ("INT8", [-128, 0, 1, 127]), ("INT64", [-(2 ** 63), 0, 1, 2 ** 63 - 1]),
    ("UINT8", [0, 1, 2, 255]), ("UINT64", [0, 1, 2, 2 ** 64 - 1]), ("FP16", [65504.0, -1, 0.5, 0]),
    ("FP32", ROW), ("FP64", [1e300, 1, 2, 3]),
])
def test_values_inside_each_range_reach_the_model(iris_base: str, datatype: str, values: list[Any]) -> None:
    status, body = infer(iris_base, {"inputs": [tensor(datatype, values)]})
    assert status == 200, body


@pytest.mark.parametrize(("request_body", "fragment"), [
    ({"inputs": [tensor("FP64", ROW)], "outputs": [{"name": "nope"}]}, "unknown output 'nope'"),
    ({"inputs": [tensor("FP64", ROW)], "outputs": "x"}, "outputs must be an array"),
    ({"inputs": [tensor("FP64", ROW)], "outputs": [5]}, "outputs[0]"),
    ({"inputs": [tensor("FP64", ROW)], "outputs": [{"name": "predict", "parameters": 1}]}, "parameters"),
    ({"inputs": [tensor("BOOL", [True, 1, "x", None])]}, "BOOL data must be true or false"),
    ({"inputs": [tensor("FP64", [1, 2, "3", 4])]}, "FP64 data must be numbers"),
    ({"inputs": [tensor("INT32", [1, 2, 3.5, 4])]}, "INT32 data must be integers"),
    ({"inputs": [tensor("INT32", [True, 2, 3, 4])]}, "INT32 data must be integers"),
    ({"inputs": [tensor("BYTES", ["a", 1, "b", "c"])]}, "BYTES data must be strings"),
    ({"inputs": [tensor("FP64", ROW)], "parameters": 5}, "parameters must be an object"),
    ({"inputs": [{**tensor("FP64", ROW), "parameters": []}]}, "parameters must be an object"),
    ({"inputs": [tensor("FP64", ROW)], "id": 7}, "id must be a string"),
    ({"inputs": [tensor("FP64", ROW), tensor("FP64", ROW)]}, "a second input named 'features'"),
    ({"inputs": [tensor("FP64", ROW, shape=[1, True, 4])]}, "shape must be"),
    ({"inputs": [tensor("FP64", [[1, 2], 3, 4], shape=[2, 2])]}, "mix arrays and values"),
    ({"inputs": [tensor("FP64", [[[1, 2, 3, 4]]], shape=[4])]}, "nested deeper than the shape"),
    ({"inputs": [tensor("FP64", ROW, shape=[2, 4])]}, "do not fit shape [2, 4]"),
    ({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64"}]}, "no data"),
    # No values for no elements, but a shape too big to exist: numpy's reshape refused it, a 500.
    ({"inputs": [tensor("FP64", [], shape=[0, 2 ** 63 - 1, 2 ** 63 - 1])]}, "data do not fit FP64"),
])
def test_requests_that_break_the_protocol_get_400(iris_base: str, request_body: dict[str, Any],
                                                  fragment: str) -> None:
    status, body = infer(iris_base, request_body)
    assert status == 400 and fragment in body["error"], body


def test_requested_outputs_and_nested_data(iris_base: str) -> None:
    request = {"id": "r1", "parameters": {}, "inputs": [tensor("FP64", [ROW, ROW], shape=[2, 4])],
               "outputs": [{"name": "predict_proba", "parameters": {}}]}
    status, body = infer(iris_base, request)
    assert status == 200 and body["id"] == "r1"
    assert [o["name"] for o in body["outputs"]] == ["predict_proba"] and body["outputs"][0]["shape"] == [2, 3]


def test_nan_and_infinity_in_a_response_are_written_as_null(serving: Any, tmp_path: Path) -> None:
    graph = helper.make_graph([helper.make_node("Log", ["x"], ["y"])], "log",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder = tmp_path / "log"
    folder.mkdir()
    onnx.save(model, folder / "model.onnx")
    base = serving(folder, name="log")
    body = json.dumps({"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [-1.0, 0.0, 1.0]}]})
    status, reply = strict_call(base, "/v2/models/log/infer", body.encode())
    assert status == 200
    assert reply["outputs"][0]["data"] == [None, None, 0.0]
