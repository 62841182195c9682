"""`serve` against a V2 client nobody here wrote: tritonclient's HTTP client, with JSON and with the
binary tensor extension, on a skops model pulled from a registry (its name, version and digest come
from the pulled directory's modelpack.yaml) and on an ONNX model with several datatypes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

import modelpack as mp
from modelpack.store.options import ClientOptions
from registry_process import Registry
from serve_models import WEIGHTS, iris_skops, typed_onnx

PLAIN = ClientOptions(plain_http=True)
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]])


@pytest.fixture
def pulled_iris(registry: Registry, tmp_path: Path) -> tuple[Path, Any, str]:
    """The iris model pushed, then pulled into a directory: (directory, model, manifest digest)."""
    folder, model = iris_skops(tmp_path / "iris")
    ref = registry.repo() + ":1.0"
    digest = mp.push(folder, ref, options=PLAIN).descriptor.digest
    mp.pull(ref, output=tmp_path / "pulled", options=PLAIN)
    return tmp_path / "pulled", model, digest


def client(base: str) -> Any:
    return triton.InferenceServerClient(base.removeprefix("http://"))


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infers_on_a_pulled_skops_model(serving: Any, pulled_iris: tuple[Path, Any, str],
                                                     binary: bool) -> None:
    folder, model, digest = pulled_iris
    tc = client(serving(folder))
    assert tc.is_server_live() and tc.is_server_ready() and tc.is_model_ready("iris", "1.0")
    assert "binary_tensor_data" in tc.get_server_metadata()["extensions"]
    meta = tc.get_model_metadata("iris", "1.0")
    assert meta["versions"] == ["1.0"] and meta["parameters"]["digest"] == digest
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]},
                               {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]}]
    tensor = triton.InferInput("input-0", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS, binary_data=binary)
    result = tc.infer("iris", [tensor], model_version="1.0", request_id="r1")
    assert result.get_response()["id"] == "r1" and result.get_response()["model_version"] == "1.0"
    assert result.as_numpy("predict").dtype == np.int64
    assert result.as_numpy("predict").tolist() == model.predict(ROWS).tolist()
    assert np.allclose(result.as_numpy("predict_proba"), model.predict_proba(ROWS))
    only = tc.infer("iris", [tensor], outputs=[triton.InferRequestedOutput("predict", binary_data=binary)])
    assert only.as_numpy("predict_proba") is None and only.as_numpy("predict").tolist() == model.predict(ROWS).tolist()


def test_tritonclient_errors_are_the_servers_json_errors(serving: Any, pulled_iris: tuple[Path, Any, str]) -> None:
    tc = client(serving(pulled_iris[0]))
    tensor = triton.InferInput("input-0", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS)
    with pytest.raises(InferenceServerException, match="unknown output 'nope'") as unknown:
        tc.infer("iris", [tensor], outputs=[triton.InferRequestedOutput("nope")])
    assert unknown.value.status() == "400"
    with pytest.raises(InferenceServerException, match="unknown model 'other'"):
        tc.infer("other", [tensor])
    with pytest.raises(InferenceServerException, match="version '9'"):
        tc.get_model_metadata("iris", "9")


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_every_datatype_of_an_onnx_model(serving: Any, tmp_path: Path, binary: bool) -> None:
    tc = client(serving(typed_onnx(tmp_path / "typed")))
    meta = tc.get_model_metadata("typed", "2")
    assert {o["name"]: o["datatype"] for o in meta["outputs"]} == {
        "y": "FP32", "half": "FP16", "best": "INT64", "positive": "BOOL", "flags_out": "UINT8", "text_out": "BYTES"}
    x = np.array([[1, 2, 3], [0.5, -1, 4], [-3, -1, 0]], dtype=np.float32)
    flags = np.array([0, 255, 7], dtype=np.uint8)
    text = np.array(["a", "héllo", ""], dtype=object)
    inputs = [triton.InferInput("x", list(x.shape), "FP32"), triton.InferInput("flags", [3], "UINT8"),
              triton.InferInput("text", [3], "BYTES")]
    inputs[0].set_data_from_numpy(x, binary_data=binary)
    inputs[1].set_data_from_numpy(flags, binary_data=binary)
    inputs[2].set_data_from_numpy(text, binary_data=binary)
    names = ["y", "half", "best", "positive", "flags_out", "text_out"]
    result = tc.infer("typed", inputs, outputs=[triton.InferRequestedOutput(n, binary_data=binary) for n in names])
    y = x @ WEIGHTS
    assert np.allclose(result.as_numpy("y"), y) and result.as_numpy("y").dtype == np.float32
    assert result.as_numpy("half").dtype == np.float16 and np.allclose(result.as_numpy("half"), y, rtol=1e-3)
    assert result.as_numpy("best").tolist() == y.argmax(axis=1).tolist()
    assert result.as_numpy("positive").tolist() == (y > 0).tolist()
    assert result.as_numpy("flags_out").tolist() == [0, 255, 7]
    assert [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("text_out")] == ["a", "héllo", ""]
