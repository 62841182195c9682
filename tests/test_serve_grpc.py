"""`serve --grpc-port`: the protocol over gRPC (inference.GRPCInferenceService) against tritonclient's gRPC
client, raw and typed contents, errors as gRPC statuses, calls counted in /metrics."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serve_models import WEIGHTS, iris_skops, typed_inputs, typed_onnx

grpc_client = pytest.importorskip("tritonclient.grpc")
InferenceServerException = pytest.importorskip("tritonclient.utils").InferenceServerException


def test_tritonclient_grpc_infers_and_reads_metadata(grpc_serving: Any, tmp_path: Path) -> None:
    folder, model = iris_skops(tmp_path / "iris")
    base, target = grpc_serving(folder)
    client = grpc_client.InferenceServerClient(target)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("iris", "1.0")
    assert "binary_tensor_data" in client.get_server_metadata().extensions
    meta = client.get_model_metadata("iris", "1.0")
    assert meta.versions == ["1.0"] and [o.datatype for o in meta.outputs] == ["INT64", "FP64"]
    rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    tensor = grpc_client.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows)
    result = client.infer("iris", [tensor], model_version="1.0", request_id="g1")
    assert result.get_response().id == "g1"
    assert result.as_numpy("predict").tolist() == model.predict(rows).tolist()
    assert np.allclose(result.as_numpy("predict_proba"), model.predict_proba(rows))
    text = urllib.request.urlopen(f"{base}/metrics", timeout=30).read().decode()
    assert 'endpoint="grpc_ModelInfer"' in text and 'model="iris"' in text


def test_tritonclient_grpc_every_datatype_and_errors(grpc_serving: Any, tmp_path: Path) -> None:
    _, target = grpc_serving(typed_onnx(tmp_path / "typed"))
    client = grpc_client.InferenceServerClient(target)
    x, inputs = typed_inputs(grpc_client.InferInput, [3, 250], [b"a", b"bc"])
    result = client.infer("typed", inputs)
    assert np.allclose(result.as_numpy("y"), x @ WEIGHTS) and result.as_numpy("half").dtype == np.float16
    assert result.as_numpy("best").tolist() == (x @ WEIGHTS).argmax(1).tolist()
    assert result.as_numpy("positive").tolist() == (x @ WEIGHTS > 0).tolist()
    assert result.as_numpy("flags_out").tolist() == [3, 250] and result.as_numpy("text_out").tolist() == [b"a", b"bc"]
    with pytest.raises(InferenceServerException, match="unknown output 'nope'") as unknown:
        client.infer("typed", inputs, outputs=[grpc_client.InferRequestedOutput("nope")])
    assert "INVALID_ARGUMENT" in str(unknown.value.status())
    with pytest.raises(InferenceServerException, match="unknown model 'other'") as missing:
        client.infer("other", inputs)
    assert "NOT_FOUND" in str(missing.value.status())
    short = grpc_client.InferInput("x", [1, 3], "FP32")
    short.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
    short.set_shape([2, 3])  # 12 bytes for a shape of 24
    with pytest.raises(InferenceServerException, match="do not fit shape"):
        client.infer("typed", [short, *inputs[1:]])


@pytest.mark.parametrize("shape, raw", [([2 ** 32, 2 ** 32], None), ([2 ** 32, 2 ** 32, 0], None),
                                        ([0, 2 ** 62, 2 ** 62], b"")])
def test_a_shape_too_big_to_exist_is_invalid_argument(grpc_serving: Any, tmp_path: Path, shape: list[int],
                                                     raw: bytes | None) -> None:
    # numpy's product of 2**32 * 2**32 wraps to 0, and a reshape to such a shape raised: the call ended UNKNOWN.
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    _, target = grpc_serving(iris_skops(tmp_path / "iris")[0])
    request = service_pb2.ModelInferRequest(model_name="iris")
    request.inputs.add(name="x", datatype="FP64", shape=shape)
    if raw is not None:
        request.raw_input_contents.append(raw)
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as refused:
        service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert "input 'x'" in refused.value.details()


@pytest.mark.parametrize("limits, second_rows, expected", [
    ({"max_connections": 1}, 1, "Concurrent RPC limit"),  # grpcio's own words
    ({"max_request_bytes": 100_000, "max_inflight_bytes": 100_000}, 1875, "memory budget"),  # 60,000 bytes
])
def test_calls_past_the_limits_are_resource_exhausted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      limits: dict[str, int], second_rows: int, expected: str) -> None:
    # grpcio queued any number of calls, each message in memory, and no budget bounded them: 128 calls of
    # 15 MiB at once took the server to 5 GB.
    import threading

    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    import modelpack as mp
    from modelpack.serve.limits import ServerLimits
    from modelpack.serve.served_model import ServedModel

    inside, leave = threading.Event(), threading.Event()
    predict = ServedModel.predict

    def held(self: ServedModel, inputs: dict[str, Any]) -> Any:
        if len(next(iter(inputs.values()))) == 1875:  # the holder's 60,000 bytes
            inside.set()
            leave.wait(30)
        return predict(self, inputs)

    monkeypatch.setattr(ServedModel, "predict", held)
    server = mp.serve_model(iris_skops(tmp_path / "iris")[0], port=0, grpc_port=0, limits=ServerLimits(**limits))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def request(rows: int) -> Any:
        message = service_pb2.ModelInferRequest(model_name="iris")
        message.inputs.add(name="x", datatype="FP64", shape=[rows, 4])
        message.raw_input_contents.append(np.ones((rows, 4)).tobytes())
        return message

    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            holder = stub.ModelInfer.future(request(1875), timeout=60)
            assert inside.wait(30)
            with pytest.raises(grpc.RpcError) as refused:
                stub.ModelInfer(request(second_rows), timeout=10)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value.details()
            assert expected in refused.value.details()
            # grpcio's own refusals (past the calls at once) were not in /metrics: REST's 503s are.
            assert any('endpoint="grpc_ModelInfer"' in line and 'code="RESOURCE_EXHAUSTED"' in line
                       for line in metrics_lines(server.server_address[1]))
            leave.set()
            assert len(holder.result().raw_output_contents) == 2
            assert stub.ModelInfer(request(second_rows), timeout=30).outputs  # freed
    finally:
        leave.set()
        server.shutdown()
        server.server_close()


def metrics_lines(port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as page:
        return [line for line in page.read().decode().splitlines() if line.startswith("modelpack_requests_total")]


def test_a_call_whose_deadline_passed_is_counted_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The handler finished after the client had given up, and the call was counted OK although grpcio
    # dropped the answer.
    import threading

    import modelpack as mp
    from modelpack.serve.served_model import ServedModel

    given_up = threading.Event()
    predict = ServedModel.predict

    def late(self: ServedModel, inputs: dict[str, Any]) -> Any:
        given_up.wait(30)
        return predict(self, inputs)

    monkeypatch.setattr(ServedModel, "predict", late)
    server = mp.serve_model(iris_skops(tmp_path / "iris")[0], port=0, grpc_port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = grpc_client.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        tensor = grpc_client.InferInput("x", [1, 4], "FP64")
        tensor.set_data_from_numpy(np.ones((1, 4)))
        with pytest.raises(InferenceServerException) as refused:
            client.infer("iris", [tensor], client_timeout=0.5)
        assert "Deadline" in str(refused.value) or "DEADLINE" in str(refused.value), refused.value
        given_up.set()
        for _ in range(100):
            lines = [line for line in metrics_lines(server.server_address[1]) if "grpc_ModelInfer" in line]
            if lines:
                break
            threading.Event().wait(0.1)
        assert lines and all('code="DEADLINE_EXCEEDED"' in line for line in lines), lines
    finally:
        given_up.set()
        server.shutdown()
        server.server_close()


def http2_frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def infer_headers() -> bytes:
    """A ModelInfer call's HEADERS block, as literal HPACK fields."""
    return b"".join(b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value for name, value in (
        (b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/inference.GRPCInferenceService/ModelInfer"),
        (b":authority", b"x"), (b"content-type", b"application/grpc"), (b"te", b"trailers")))


def test_a_call_whose_answer_is_never_read_ends_with_its_connection(tmp_path: Path) -> None:
    # A client that grants no flow-control window kept each answer in the server's memory for as long
    # as it stayed connected: 30 such calls of 200,000 rows held +330 MB. No gRPC client does this, so
    # the client here is HTTP/2 by hand: a window of 0 and a literal HPACK header block.
    import socket
    import struct
    import threading

    from tritonclient.grpc import service_pb2

    import modelpack as mp
    from modelpack.serve.limits import ServerLimits

    server = mp.serve_model(iris_skops(tmp_path / "iris")[0], port=0, grpc_port=0,
                            limits=ServerLimits(request_timeout=0.5))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    message = service_pb2.ModelInferRequest(model_name="iris")
    message.inputs.add(name="x", datatype="FP64", shape=[1, 4])
    message.raw_input_contents.append(np.ones((1, 4)).tobytes())
    body = message.SerializeToString()
    headers = infer_headers()
    try:
        with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=1) as conn:
            conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + http2_frame(4, 0, 0, struct.pack(">HI", 4, 0))
                         + http2_frame(1, 4, 1, headers)
                         + http2_frame(0, 1, 1, b"\x00" + struct.pack(">I", len(body)) + body))
            received, ended = b"", False
            for _ in range(60):  # 10 x 0.5 s of age, 0.5 s of grace, then it ends
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except ConnectionError:
                    chunk = b""
                if not chunk:
                    ended = True
                    break
                if not received:  # acknowledge the server's settings, as a client must
                    conn.sendall(http2_frame(4, 1, 0, b""))
                received += chunk
            assert ended, "the server still holds the unread answer"
    finally:
        server.shutdown()
        server.server_close()


def test_the_longest_request_timeout_still_starts_grpc(tmp_path: Path) -> None:
    # Ten times 1,000,000 s in milliseconds does not fit the C int of a gRPC option: an OverflowError.
    import modelpack as mp
    from modelpack.serve.limits import ServerLimits

    server = mp.serve_model(iris_skops(tmp_path / "iris")[0], port=0, grpc_port=0,
                            limits=ServerLimits(request_timeout=1_000_000))
    try:
        assert grpc_client.InferenceServerClient(f"127.0.0.1:{server.grpc_port}").is_server_live()
    finally:
        server.grpc_server.stop(0)
        server.server_close()
