"""`serve` runs inference (REST bodies past INLINE_BYTES, every gRPC call) on threads born with SIGINT and
SIGTERM blocked, like every other thread modelpack starts: a stop signal then always reaches the main
thread, where Python handles it. anyio's worker threads (and gRPC's default pool) had them unblocked."""

from __future__ import annotations

import json
import signal
import threading
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelpack.serve.oip_rest import INLINE_BYTES
from modelpack.serve.served_model import ServedModel
from serve_models import iris_skops

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@pytest.fixture
def masks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, set[signal.Signals]]]:
    """(thread name, blocked signals) of each thread that ran a model's predict."""
    seen: list[tuple[str, set[signal.Signals]]] = []
    predict = ServedModel.predict

    def recording(self: ServedModel, inputs: Any) -> Any:
        seen.append((threading.current_thread().name, signal.pthread_sigmask(signal.SIG_BLOCK, [])))
        return predict(self, inputs)

    monkeypatch.setattr(ServedModel, "predict", recording)
    return seen


def test_rest_inference_runs_with_the_stop_signals_blocked(serving: Any, tmp_path: Path,
                                                           masks: list[tuple[str, set[signal.Signals]]]) -> None:
    # The fixture serves on a plain thread of the test process, with nothing blocked: what the
    # inference thread blocks, it blocks itself.
    folder, model = iris_skops(tmp_path / "iris")
    base = serving(folder)
    rows = np.tile([[5.1, 3.5, 1.4, 0.2]], (INLINE_BYTES // 16 + 1, 1))  # a body past INLINE_BYTES
    body = json.dumps({"inputs": [{"name": "input-0", "shape": list(rows.shape), "datatype": "FP64",
                                   "data": rows.ravel().tolist()}]}).encode()
    assert len(body) > INLINE_BYTES
    for _ in range(3):
        request = urllib.request.Request(f"{base}/v2/models/iris/infer", body,
                                         {"content-type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
        assert answer["outputs"][0]["data"][:1] == model.predict(rows[:1]).tolist()
    assert len(masks) == 3
    for name, blocked in masks:
        assert name != threading.main_thread().name
        assert blocked >= STOP_SIGNALS, (name, blocked)


def test_grpc_inference_runs_with_the_stop_signals_blocked(grpc_serving: Any, tmp_path: Path,
                                                           masks: list[tuple[str, set[signal.Signals]]]) -> None:
    grpc_client = pytest.importorskip("tritonclient.grpc")
    folder, model = iris_skops(tmp_path / "iris")
    _, target = grpc_serving(folder)
    client = grpc_client.InferenceServerClient(target)
    rows = np.array([[5.1, 3.5, 1.4, 0.2]])
    tensor = grpc_client.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows)
    assert client.infer("iris", [tensor], model_version="1.0").as_numpy("predict").tolist() == \
        model.predict(rows).tolist()
    assert len(masks) == 1
    name, blocked = masks[0]
    assert blocked >= STOP_SIGNALS, (name, blocked)
