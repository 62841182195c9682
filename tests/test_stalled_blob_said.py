"""A blob that stops arriving midway (a registry or proxy gone quiet): the bar froze for the stall bound,
30 s, with nothing said. After 10 s without a byte one line names what is awaited, as for a registry that has
not answered at all (test_registry_silence_said), and the pull goes on once the bytes come again."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

from fault_proxy import Fault, FaultProxy
from registry_process import Registry


def test_a_blob_stalled_midway_is_named_while_the_pull_waits(registry: Registry, proxy: FaultProxy,
                                                              tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    weights = os.urandom(4 << 20)  # streamed (not a small blob read whole), one range
    (model / "w.safetensors").write_bytes(weights)
    repo = registry.repo("stalled").split("/", 1)[1]
    subprocess.run([sys.executable, "-m", "modelpack", "push", "--plain-http", str(model), f"{registry.host}/{repo}:1"],
                   check=True, capture_output=True, env={**os.environ, "MODELPACK_HOME": str(tmp_path / "home")})
    stall = Fault(f"GET .*/blobs/sha256:{hashlib.sha256(weights).hexdigest()}", stall_after=1 << 20)
    proxy.faults.append(stall)
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "-v", "pull", "--plain-http", f"{proxy.host}/{repo}:1",
                             "-o", str(tmp_path / "out")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MODELPACK_HOME": str(tmp_path / "home2"),
                                 "MODELPACK_RANGE_CONNECTIONS": "1"})
    assert proc.stderr is not None
    lines: list[str] = []
    watchdog = threading.Timer(90, proc.kill)  # a bound on the test, not a measurement
    watchdog.start()
    try:
        while "has sent nothing more" not in (line := proc.stderr.readline()):
            assert line, "".join(lines)
            lines.append(line)
    finally:
        stall.release.set()
    rest = proc.stderr.read()
    code = proc.wait(timeout=60)
    watchdog.cancel()
    said = line.strip()
    assert f"has sent nothing more of its answer to GET /v2/{repo}/blobs/sha256:" in said, said
    assert said.endswith("in 10 s; waiting (the attempt ends after 30 s of silence; Ctrl-C stops)"), said
    assert code == 0, "".join(lines) + rest
    assert (tmp_path / "out" / "w.safetensors").read_bytes() == weights
    assert "has sent nothing more" not in rest  # once for the stall
