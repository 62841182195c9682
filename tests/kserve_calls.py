"""KServe's REST client calls for tests/test_serve_kserve_client.py, run in a process of their own:
kserve and tritonclient.grpc each register the protocol's `inference.*` protobuf messages in the
default descriptor pool, so the two cannot be imported into one process.

    python kserve_calls.py CASE BASE_URL   -> JSON on stdout: {"id", "model_name", "outputs": {name: list}}
                                              or {"error": "..."}
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import kserve
import numpy as np

from serve_models import typed_inputs

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


async def infer(base: str, model: str, inputs: list[Any], **request: Any) -> Any:
    client = kserve.InferenceRESTClient(kserve.RESTConfig(protocol="v2", retries=0, timeout=30))
    try:
        assert await client.is_server_live(base) and await client.is_model_ready(base, model)
        return await client.infer(base, kserve.InferRequest(model, inputs, **request), model_name=model)
    finally:
        await client.close()


def run(case: str, base: str) -> dict[str, Any]:
    if case in ("iris-binary", "iris-json"):
        binary = case == "iris-binary"
        tensor = kserve.InferInput("input-0", list(ROWS.shape), "FP64")
        tensor.set_data_from_numpy(ROWS, binary_data=binary)
        response = asyncio.run(infer(base, "iris", [tensor], request_id="k1",
                                     parameters={"binary_data_output": binary}))
    elif case == "typed":
        _, inputs = typed_inputs(kserve.InferInput, [1, 200], [b"x", b"yz"])
        response = asyncio.run(infer(base, "typed", inputs, parameters={"binary_data_output": True}))
    else:  # "out-of-range": a hand-built UINT8 300
        tensor = kserve.InferInput("input-0", [1], "UINT8")
        tensor.set_data_from_numpy(np.array([1], dtype=np.uint8), binary_data=False)
        tensor._data = [300]
        try:
            asyncio.run(infer(base, "iris", [tensor]))
        except Exception as exc:
            return {"error": str(exc)}
        return {"error": None}
    outputs = {}
    for output in response.outputs:
        array = output.as_numpy()
        outputs[output.name] = {"dtype": str(array.dtype), "data": [
            v.decode() if isinstance(v, bytes) else v for v in array.reshape(-1).tolist()]}
    return {"id": response.id, "model_name": response.model_name, "outputs": outputs}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2])))
