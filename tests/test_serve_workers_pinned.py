"""`serve REF:TAG --workers N` resolves the tag once, in the parent: each worker pulling (and verifying) the
tag on its own could serve another model, should the tag move while they start."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import modelpack as mp
from fault_proxy import FaultProxy
from test_serve_lifecycle import PLAIN, onnx_model, processes, scratch, start  # noqa: F401 (fixtures)
from test_serve_workers_metrics import infer

WORKERS = 3


def test_the_tag_is_resolved_once_for_every_worker(proxy: FaultProxy, tmp_path: Path, scratch: Path,  # noqa: F811
                                                    processes: list[subprocess.Popen[str]]) -> None:  # noqa: F811
    ref = f"{proxy.host}/pinned/linear:prod"
    digest = mp.push(onnx_model(tmp_path / "m"), ref, options=PLAIN).descriptor.digest
    proxy.clear()
    proc, port = start(scratch, "--plain-http", ref, "--workers", str(WORKERS))
    processes.append(proc)
    assert all(infer(port) == 200 for _ in range(2 * WORKERS))
    # The parent resolved the tag (HEAD); every worker read the model by the digest it was given (a HEAD
    # of the tag by a worker only decides whether its local store records the tag).
    assert proxy.requests("GET", "/manifests/prod") == []
    assert proxy.requests("HEAD", "/manifests/prod")[:1] == ["HEAD /v2/pinned/linear/manifests/prod"]
    read = {re.sub(r".*/manifests/", "", line) for line in proxy.requests("GET", "/manifests/")}
    assert read == {digest}
