"""`serve --workers N`: /metrics is the whole server's, whichever worker answers the scrape."""

from __future__ import annotations

import signal
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from test_serve_lifecycle import BODY, onnx_model, processes, scratch, start  # noqa: F401 (fixtures)

REQUESTS = 40


def infer(port: int) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/linear/infer", data=BODY,
                                     headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return int(resp.status)


def series(page: str, name: str, *fragments: str) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
            if line.startswith(name + "{") and all(f in line for f in fragments)]


def test_every_worker_scrape_adds_up_all_workers(tmp_path: Path, scratch: Path,  # noqa: F811
                                                 processes: list[subprocess.Popen[str]]) -> None:  # noqa: F811
    proc, port = start(scratch, str(onnx_model(tmp_path / "m")), "--workers", "2")
    processes.append(proc)
    with ThreadPoolExecutor(8) as pool:  # one connection each, several at once: both workers answer some
        assert set(pool.map(lambda _: infer(port), range(REQUESTS))) == {200}
    for _ in range(8):  # each scrape on a connection of its own, answered by either worker
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
            page = resp.read().decode()
        assert series(page, "modelpack_requests_total", 'endpoint="infer"', 'code="200"') == [REQUESTS], page
        assert series(page, "modelpack_request_duration_seconds_count", 'endpoint="infer"') == [REQUESTS]
        assert series(page, "modelpack_workers", 'model="linear"') == [2.0]
        assert series(page, "modelpack_model_info", 'platform="onnxruntime_onnx"') == [1.0]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert list(scratch.glob("modelpack-metrics-*")) == []  # the workers' metrics files are gone with them
