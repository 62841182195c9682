"""`serve` against KServe's own REST client (`kserve.InferenceRESTClient`, V2 protocol), JSON and binary.

kserve is not in the `test` extra: it brings ~450 MB (pandas, kubernetes, grpcio-tools, fastapi) for a
client; `pip install kserve` runs these tests, otherwise they are skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serve_models import WEIGHTS, iris_skops, typed_onnx

kserve = pytest.importorskip("kserve")
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


async def infer(base: str, model: str, inputs: list[Any], **request: Any) -> Any:
    client = kserve.InferenceRESTClient(kserve.RESTConfig(protocol="v2", retries=0, timeout=30))
    try:
        assert await client.is_server_live(base) and await client.is_model_ready(base, model)
        return await client.infer(base, kserve.InferRequest(model, inputs, **request), model_name=model)
    finally:
        await client.close()


@pytest.mark.parametrize("binary", [True, False])
def test_kserve_rest_client_infers_on_a_skops_model(serving: Any, tmp_path: Path, binary: bool) -> None:
    folder, model = iris_skops(tmp_path / "iris")
    tensor = kserve.InferInput("input-0", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS, binary_data=binary)
    response = asyncio.run(infer(serving(folder), "iris", [tensor], request_id="k1",
                                 parameters={"binary_data_output": binary}))
    outputs = {o.name: o.as_numpy() for o in response.outputs}
    assert response.id == "k1" and response.model_name == "iris"
    assert outputs["predict"].tolist() == model.predict(ROWS).tolist()
    assert np.allclose(outputs["predict_proba"], model.predict_proba(ROWS))


def test_kserve_rest_client_onnx_binary_outputs(serving: Any, tmp_path: Path) -> None:
    x = np.array([[1, 2, 3], [0.5, -1, 4]], dtype=np.float32)
    inputs = [kserve.InferInput("x", [2, 3], "FP32"), kserve.InferInput("flags", [2], "UINT8"),
              kserve.InferInput("text", [2], "BYTES")]
    inputs[0].set_data_from_numpy(x)
    inputs[1].set_data_from_numpy(np.array([1, 200], dtype=np.uint8))
    inputs[2].set_data_from_numpy(np.array([b"x", b"yz"], dtype=object))
    response = asyncio.run(infer(serving(typed_onnx(tmp_path / "typed")), "typed", inputs,
                                 parameters={"binary_data_output": True}))
    outputs = {o.name: o.as_numpy() for o in response.outputs}
    assert np.allclose(outputs["y"], x @ WEIGHTS) and outputs["best"].tolist() == (x @ WEIGHTS).argmax(1).tolist()
    assert outputs["flags_out"].tolist() == [1, 200] and outputs["positive"].dtype == np.bool_
    assert [v.decode() if isinstance(v, bytes) else v for v in outputs["text_out"]] == ["x", "yz"]


def test_kserve_rest_client_sees_the_servers_error(serving: Any, tmp_path: Path) -> None:
    folder, _ = iris_skops(tmp_path / "iris")
    tensor = kserve.InferInput("input-0", [1], "UINT8")
    tensor.set_data_from_numpy(np.array([1], dtype=np.uint8), binary_data=False)
    tensor._data = [300]  # what a client built by hand might send
    with pytest.raises(Exception, match="out of range for UINT8"):
        asyncio.run(infer(serving(folder), "iris", [tensor]))
