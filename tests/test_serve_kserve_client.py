"""`serve` against KServe's own REST client (`kserve.InferenceRESTClient`, V2 protocol), JSON and binary.

kserve (pinned in the `test` extra) runs in a process of its own (tests/kserve_calls.py says why)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serve_models import WEIGHTS, iris_skops, typed_onnx

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


def kserve_call(case: str, base: str) -> dict[str, Any]:
    run = subprocess.run([sys.executable, str(Path(__file__).with_name("kserve_calls.py")), case, base],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


@pytest.mark.parametrize("binary", [True, False])
def test_kserve_rest_client_infers_on_a_skops_model(serving: Any, tmp_path: Path, binary: bool) -> None:
    folder, model = iris_skops(tmp_path / "iris")
    response = kserve_call("iris-binary" if binary else "iris-json", serving(folder))
    outputs = response["outputs"]
    assert response["id"] == "k1" and response["model_name"] == "iris"
    assert outputs["predict"]["data"] == model.predict(ROWS).tolist()
    assert np.allclose(outputs["predict_proba"]["data"], model.predict_proba(ROWS).reshape(-1))


def test_kserve_rest_client_onnx_binary_outputs(serving: Any, tmp_path: Path) -> None:
    x = np.array([[1, 2, 3], [0.5, -1, 4]], dtype=np.float32)
    outputs = kserve_call("typed", serving(typed_onnx(tmp_path / "typed")))["outputs"]
    assert np.allclose(outputs["y"]["data"], (x @ WEIGHTS).reshape(-1))
    assert outputs["best"]["data"] == (x @ WEIGHTS).argmax(1).tolist()
    assert outputs["flags_out"]["data"] == [1, 200] and outputs["positive"]["dtype"] == "bool"
    assert outputs["text_out"]["data"] == ["x", "yz"]


def test_kserve_rest_client_sees_the_servers_error(serving: Any, tmp_path: Path) -> None:
    folder, _ = iris_skops(tmp_path / "iris")
    assert "out of range for UINT8" in kserve_call("out-of-range", serving(folder))["error"]
