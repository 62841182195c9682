"""The served protocol over raw HTTP, as hostile or unusual clients send it: keep-alive reuse, Expect:
100-continue, methods an endpoint does not take, deep JSON, malformed binary tensors, bodies over the
limit (declared or chunked), and /metrics (more requests than the server takes at once: test_serve_held)."""

from __future__ import annotations

import http.client
import json
import socket
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import modelpack as mp
from modelpack.serve.limits import ServerLimits
from modelpack.store.options import ClientOptions
from registry_process import Registry
from serve_models import iris_skops
from serving import call, established

DIGEST = "sha256:" + "ab" * 32
ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def iris(tmp_path: Path) -> Path:
    folder, _ = iris_skops(tmp_path / "iris")
    with (folder / "modelpack.yaml").open("a") as meta:  # as a pulled directory records it
        meta.write(f"# modelpack-digest: {DIGEST}\n")
    return folder


def json_body(**extra: Any) -> bytes:
    return json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}], **extra}).encode()


def raw(base: str, request: bytes, *, read_until_close: bool = True) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(request)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
            if not read_until_close and b"\r\n\r\n" in reply:
                break
    return reply


def status_and_json(reply: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_keep_alive_answers_many_requests_on_one_connection(serving: Any, iris: Path) -> None:
    base = serving(iris)
    port = int(base.rsplit(":", 1)[1])
    connects = []

    class Counting(http.client.HTTPConnection):
        def connect(self) -> None:
            connects.append(1)
            super().connect()

    conn = Counting("127.0.0.1", port, timeout=30)
    for _ in range(50):
        conn.request("POST", "/v2/models/iris/infer", json_body(), {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200 and response.version == 11
        json.loads(response.read())
    assert len(connects) == 1 and established(port) == 1
    conn.close()


def test_expect_100_continue_is_answered_before_the_body(serving: Any, iris: Path) -> None:
    host, port = serving(iris).removeprefix("http://").split(":")
    body = json_body()
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
                     b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 100 ")
        conn.sendall(body)
        reply = conn.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_methods_an_endpoint_does_not_take_get_405_json(serving: Any, iris: Path, method: str) -> None:
    base = serving(iris)
    for path, allowed in (("/v2/models/iris/infer", "POST"), ("/v2/models/iris", "GET")):
        reply = raw(base, f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
                          "Connection: close\r\n\r\n"
                    .encode())
        status, body = status_and_json(reply)
        assert status == 405 and f"{method} is not allowed" in body["error"]
        allow = next(line for line in reply.decode().split("\r\n") if line.lower().startswith("allow:"))
        assert allowed in allow.split(":", 1)[1].replace(" ", "").split(",")


def test_unknown_paths_models_and_versions_get_404_json(serving: Any, iris: Path) -> None:
    base = serving(iris)
    assert call(f"{base}/v2/models/iris/versions/1.0/ready") == (200, {"name": "iris", "ready": True})
    for url in ("/v2/nothing", "/v2/models/other", "/v2/models/iris/versions/9", "/v2/models/iris/versions/9/ready"):
        status, body = call(base + url)
        assert status == 404 and "error" in body, url
    assert call(f"{base}/v2/models/iris/versions/9/infer", json_body())[0] == 404


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_a_request_line_http_cannot_parse_gets_a_json_400(serving: Any, iris: Path, parser: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from modelpack.serve.http_protocols import protocol_class

    if parser == "h11":  # the fallback where httptools is not installed
        monkeypatch.setitem(__import__("sys").modules, "httptools", None)
    assert parser in protocol_class(30).__mro__[2].__module__
    base = serving(iris)
    status, body = status_and_json(raw(base, b"GARBAGE\x1b[2J \x00\r\n\r\n"))
    assert status == 400 and "Invalid HTTP request" in body["error"]
    assert call(f"{base}/v2/models/iris/infer", json_body())[0] == 200


@pytest.mark.parametrize("request_line", [b"GET /v2/models/iris/versions/1.0/", b"POST /v2/models/iris/infer/"])
def test_a_trailing_slash_is_a_json_404_not_a_redirect_to_the_clients_host(serving: Any, iris: Path,
                                                                            request_line: bytes) -> None:
    base = serving(iris, allow_hosts=["elsewhere.example"])  # a name the server answers, as a proxy's
    reply = raw(base, request_line + b" HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n"
                                     b"Content-Length: 2\r\n\r\n{}")
    status, body = status_and_json(reply)
    assert status == 404 and "no such endpoint" in body["error"], reply[:300]
    assert b"elsewhere.example" not in reply


def test_json_nested_100000_deep_is_a_400(serving: Any, iris: Path) -> None:
    base = serving(iris)
    deep = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, body = call(f"{base}/v2/models/iris/infer", deep)
    assert status == 400 and "nested" in body["error"]
    assert call(f"{base}/v2/models/iris/infer", json_body())[0] == 200


def binary_request(header: dict[str, Any], blob: bytes, header_length: int | None = None) -> tuple[bytes, str]:
    text = json.dumps(header).encode()
    return text + blob, str(len(text) if header_length is None else header_length)


def post_binary(base: str, body: bytes, header_length: str) -> tuple[int, dict[str, Any], dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/v2/models/iris/infer", body, {"Inference-Header-Content-Length": header_length,
                                                          "Content-Type": "application/octet-stream"})
    response = conn.getresponse()
    data, headers = response.read(), {k.lower(): v for k, v in response.getheaders()}
    conn.close()
    if response.status != 200 or "inference-header-content-length" not in headers:
        return response.status, json.loads(data), headers, b""
    size = int(headers["inference-header-content-length"])
    return response.status, json.loads(data[:size]), headers, data[size:]


@pytest.mark.parametrize("length", ["\u00b2", "9" * 5000])
def test_a_header_length_that_is_no_ascii_length_is_a_400(serving: Any, iris: Path, length: str) -> None:
    # '²' (sent as its latin-1 byte) passes str.isdigit() and int() refuses 5000 digits: both were 500s.
    base = serving(iris)
    status, body, _, _ = post_binary(base, json_body(), length)
    assert status == 400 and "Inference-Header-Content-Length" in body["error"], body
    assert post_binary(base, json_body(), f" {len(json_body())} ")[0] == 200


def test_binary_tensors_both_ways_with_binary_data_output(serving: Any, iris: Path) -> None:
    base = serving(iris)
    rows = np.array([ROW, [6.7, 3.0, 5.2, 2.3]])
    blob = rows.astype("<f8").tobytes()
    body, length = binary_request({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64",
                                               "parameters": {"binary_data_size": len(blob)}}],
                                   "parameters": {"binary_data_output": True}}, blob)
    status, header, headers, rest = post_binary(base, body, length)
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    predict, proba = header["outputs"]
    assert predict["datatype"] == "INT64" and predict["parameters"]["binary_data_size"] == 16
    labels = np.frombuffer(rest[:16], "<i8")
    probabilities = np.frombuffer(rest[16:], "<f8").reshape(2, 3)
    assert labels.tolist() == probabilities.argmax(axis=1).tolist()
    assert len(rest) == 16 + proba["parameters"]["binary_data_size"] == 16 + 48


@pytest.mark.parametrize("case, expected", [
    ("header length past the body", "Inference-Header-Content-Length"),
    ("size past the data", "binary_data_size"),
    ("bytes left over", "bytes of binary data follow"),
    ("wrong size for the shape", "do not fit shape"),
    ("bool byte 2", "BOOL binary data"),
    ("bytes element cut short", "BYTES"),
    ("data and binary_data_size", "both data and binary_data_size"),
])
def test_malformed_binary_tensors_get_400_naming_the_problem(serving: Any, iris: Path, case: str,
                                                            expected: str) -> None:
    base = serving(iris)
    floats = np.array(ROW).astype("<f8").tobytes()

    def tensor(datatype: str, shape: list[int], size: int, **extra: Any) -> dict[str, Any]:
        return {"inputs": [{"name": "x", "shape": shape, "datatype": datatype,
                            "parameters": {"binary_data_size": size}, **extra}]}

    body, length = {
        "header length past the body": binary_request(tensor("FP64", [1, 4], 32), floats, 10_000),
        "size past the data": binary_request(tensor("FP64", [1, 4], 64), floats),
        "bytes left over": binary_request(tensor("FP64", [1, 4], 32), floats + b"xx"),
        "wrong size for the shape": binary_request(tensor("FP64", [1, 3], 32), floats),
        "bool byte 2": binary_request(tensor("BOOL", [2], 2), b"\x01\x02"),
        "bytes element cut short": binary_request(tensor("BYTES", [1], 6), struct.pack("<I", 9) + b"ab"),
        "data and binary_data_size": binary_request(tensor("FP64", [1, 4], 32, data=ROW), floats),
    }[case]
    status, body_json, _, _ = post_binary(base, body, length)
    assert status == 400 and expected in body_json["error"], body_json


def test_chunked_body_over_the_limit_gets_413(serving: Any, iris: Path) -> None:
    base = serving(iris, limits=ServerLimits(max_request_bytes=1000))
    chunk = b"x" * 600
    request = (b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n" + (b"258\r\n" + chunk + b"\r\n") * 3 + b"0\r\n\r\n")
    status, body = status_and_json(raw(base, request))
    assert status == 413 and "1000" in body["error"]


def test_metrics_count_requests_errors_and_latency_under_the_models_digest(serving: Any, iris: Path) -> None:
    base = serving(iris)
    assert call(f"{base}/v2/models/iris")[1]["parameters"]["digest"] == DIGEST
    assert call(f"{base}/v2/models/iris/infer", json_body())[0] == 200
    assert call(f"{base}/v2/models/iris/infer", b"{bad")[0] == 400
    with http_get(base, "/metrics") as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    identity = f'digest="{DIGEST}",endpoint="infer",model="iris",version="1.0"'
    assert f'modelpack_requests_total{{code="200",{identity}}} 1.0' in text
    assert f'modelpack_request_errors_total{{code="400",{identity}}} 1.0' in text
    assert f"modelpack_request_duration_seconds_count{{{identity}}} 2.0" in text
    assert f'modelpack_model_info{{digest="{DIGEST}",model="iris",platform="sklearn",version="1.0"}} 1.0' in text


def test_metrics_show_a_version_the_artifact_chose_escaped(serving: Any, registry: Registry, tmp_path: Path) -> None:
    # `curl /metrics` on a terminal: the version label must not retitle or clear it, nor reverse what follows.
    folder, _ = iris_skops(tmp_path / "iris")
    (folder / "modelpack.yaml").write_text(yaml.safe_dump({"name": "iris", "version": "1\x1b]0;pwned\x07\u202e",
                                                           "framework": "scikit-learn"}))
    ref = registry.repo() + ":1"
    mp.push(folder, ref, options=ClientOptions(plain_http=True))
    base = serving(ref, options=ClientOptions(plain_http=True))
    with http_get(base, "/metrics") as response:
        text = response.read().decode()
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    from prometheus_client.parser import text_string_to_metric_families

    info = next(f for f in text_string_to_metric_families(text) if f.name == "modelpack_model_info")
    assert info.samples[0].labels["version"] == "1\\x1b]0;pwned\\x07\\u202e"


def http_get(base: str, path: str) -> Any:
    import urllib.request

    return urllib.request.urlopen(base + path, timeout=30)


def test_served_as_the_name_and_version_of_its_metadata(serving: Any, tmp_path: Path) -> None:
    folder, _ = iris_skops(tmp_path / "dir-name", name="flowers", version="3")
    base = serving(folder)
    assert call(f"{base}/v2/models/flowers/versions/3")[1]["versions"] == ["3"]
    status, result = call(f"{base}/v2/models/flowers/versions/3/infer", json_body())
    assert status == 200 and result["model_name"] == "flowers" and result["model_version"] == "3"
    assert mp.serve_model is not None


def test_a_version_with_a_slash_is_answered_where_a_client_quotes_it(serving: Any, tmp_path: Path) -> None:
    # The metadata lists the version; a client quotes its "/" as %2F, which the server receives decoded:
    # every endpoint of that version was a 404 "no such endpoint".
    folder, _ = iris_skops(tmp_path / "ver", name="ver", version="1.0 beta/2")
    base = serving(folder) + "/v2/models/ver/versions/1.0%20beta%2F2"
    assert call(base)[1]["versions"] == ["1.0 beta/2"]
    assert call(base + "/ready") == (200, {"name": "ver", "ready": True})
    status, body = call(base + "/infer", json_body())
    assert status == 200 and body["model_version"] == "1.0 beta/2"
    status, body = call(base.replace("%2F2", "%2F3") + "/infer", json_body())
    assert status == 404 and "version '1.0 beta/3'" in body["error"]
    reply = raw(base.split("/v2/")[0], b"GET /v2/models/ver/versions/1.0%20beta%2F2/infer HTTP/1.1\r\n"
                                       b"Host: 127.0.0.1\r\n"
                                       b"Connection: close\r\n\r\n")
    assert status_and_json(reply)[0] == 405
    reply = raw(base.split("/v2/")[0], b"GET /v2/models/ver/versions/1.0%20beta%2F2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       b"Connection: close\r\n\r\n")
    assert status_and_json(reply) == (404, {"error": "no such endpoint: GET /v2/models/ver/versions/1.0 beta/2/"})
