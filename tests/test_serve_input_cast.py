"""An input sent in another datatype than the model's is converted only when every value keeps its meaning:
numpy's conversion wrapped INT64 300 into a UINT8 input as 44, -1 as 255, truncated FP64 1.7 to 1 and
overflowed FP64 1e300 into an FP32 input as infinity, all answered 200 with a different prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost
from sklearn.datasets import load_iris

from serve_models import typed_onnx
from serving import call


def typed_request(x: dict[str, Any] | None = None, flags: dict[str, Any] | None = None,
                  text: dict[str, Any] | None = None) -> dict[str, Any]:
    """The typed model's three inputs, each replaceable by (datatype, data)."""
    x = x or {"datatype": "FP32", "data": [1, 2, 3]}
    flags = flags or {"datatype": "UINT8", "data": [7]}
    text = text or {"datatype": "BYTES", "data": ["a"]}
    return {"inputs": [{"name": "x", "shape": [1, 3], **x}, {"name": "flags", "shape": [1], **flags},
                       {"name": "text", "shape": [1], **text}]}


@pytest.fixture(scope="module")
def typed_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import modelpack as mp
    from conftest import ServerThreads

    threads = ServerThreads()
    folder = typed_onnx(tmp_path_factory.mktemp("cast") / "typed")
    yield threads.start(mp.serve_model(folder, host="127.0.0.1", port=0)) + "/v2/models/typed/infer"
    threads.stop()


@pytest.mark.parametrize(("flags", "says"), [
    ({"datatype": "INT64", "data": [300]}, "input 'flags': 300 is out of range for the model's UINT8 (0 to 255)"),
    ({"datatype": "INT64", "data": [-1]}, "input 'flags': -1 is out of range for the model's UINT8 (0 to 255)"),
    ({"datatype": "FP64", "data": [1.7]}, "input 'flags': 1.7 is not a whole number, as the model's UINT8 needs"),
    ({"datatype": "FP64", "data": [1e300]}, "input 'flags': 1e+300 is out of range for the model's UINT8 (0 to 255)"),
    ({"datatype": "BYTES", "data": ["7"]}, "input 'flags': the model takes UINT8, not BYTES"),
])
def test_a_value_the_models_integer_type_cannot_hold_is_a_400(typed_url: str, flags: dict[str, Any],
                                                               says: str) -> None:
    status, body = call(typed_url, typed_request(flags=flags))
    assert status == 400, body
    assert says in body["error"]


def test_a_float_that_overflows_the_models_type_and_numbers_as_text_are_400s(typed_url: str) -> None:
    status, body = call(typed_url, typed_request(x={"datatype": "FP64", "data": [1e300, 2, 3]}))
    assert (status, body["error"]) == (400, "the model refused the input: input 'x': 1e+300 is out of range "
                                             "for the model's FP32 (magnitude up to 3.40282e+38)")
    status, body = call(typed_url, typed_request(text={"datatype": "INT64", "data": [5]}))
    assert (status, body["error"]) == (400, "the model refused the input: input 'text': the model takes BYTES, "
                                             "not INT64")


def test_values_that_fit_are_converted_and_answered(typed_url: str) -> None:
    status, body = call(typed_url, typed_request(x={"datatype": "FP64", "data": [1.5, 2, 3]},
                                                 flags={"datatype": "INT64", "data": [255]}))
    assert status == 200, body
    outputs = {o["name"]: o["data"] for o in body["outputs"]}
    assert outputs["flags_out"] == [255]
    assert outputs["y"] == [1.5 * 1 + 2 * 0.5 + 3 * 2, 1.5 * -2 + 2 * 3]
    status, body = call(typed_url, typed_request(flags={"datatype": "FP64", "data": [3.0]}))
    assert status == 200 and {o["name"]: o["data"] for o in body["outputs"]}["flags_out"] == [3]


def test_xgboost_refuses_a_feature_its_fp32_cannot_hold(serving: Any, tmp_path: Path) -> None:
    features, labels = load_iris(return_X_y=True)
    model = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(features, labels)
    folder = tmp_path / "xgb"
    folder.mkdir()
    model.save_model(folder / "model.ubj")
    (folder / "modelpack.yaml").write_text("name: xgb\nversion: '1'\nframework: xgboost\n")
    url = serving(folder) + "/v2/models/xgb/infer"
    row = {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [1e300, 3.5, 1.4, 0.2]}
    status, body = call(url, {"inputs": [row]})
    assert (status, body["error"]) == (400, "the model refused the input: input 'input-0': 1e+300 is out of "
                                             "range for the model's FP32 (magnitude up to 3.40282e+38)")
    status, body = call(url, {"inputs": [{**row, "data": [5.1, 3.5, 1.4, 0.2]}]})
    assert status == 200 and body["outputs"][0]["data"] == model.predict(np.array([[5.1, 3.5, 1.4, 0.2]])).tolist()


def test_a_bytes_element_that_is_not_utf8_is_named_for_a_string_input(typed_url: str) -> None:
    # onnxruntime's string tensors take text: the 400 named the codec, not the input or the element.
    import http.client
    import json
    import struct
    from urllib.parse import urlsplit

    request = typed_request(text={"datatype": "BYTES", "parameters": {"binary_data_size": 6}})
    header = json.dumps(request).encode()
    url = urlsplit(typed_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("POST", url.path, body=header + struct.pack("<I", 2) + b"\xff\xfe",
                 headers={"Inference-Header-Content-Length": str(len(header))})
    resp = conn.getresponse()
    assert (resp.status, json.loads(resp.read())["error"]) == (
        400, "the model refused the input: input 'text': BYTES element b'\\xff\\xfe' is not UTF-8, as the "
             "model's string input needs")
    conn.close()
