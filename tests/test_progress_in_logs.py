"""Progress in a CI log: stderr a file, no terminal. A plain line now and then, no bar's carriage returns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from fault_proxy import Fault, FaultProxy
from helpers import modelpack
from registry_process import Registry

MIB = 1024 * 1024


def test_a_push_logs_progress_lines_while_a_blob_is_held(registry: Registry, tmp_path: Path) -> None:
    # CI systems end a step that prints nothing for 10 minutes: a large push must say it is moving.
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "w.bin").write_bytes(os.urandom(8 * MIB))
    log = tmp_path / "stderr.log"
    name = registry.repo().split("/", 1)[1]
    with FaultProxy(registry.host) as proxy:
        held = Fault(r"^(PATCH|PUT) /v2/.*/blobs/uploads/", pause_request_after=MIB)
        proxy.faults.append(held)
        with log.open("w") as err:
            process = subprocess.Popen([sys.executable, "-m", "modelpack", "push", "--plain-http", str(folder),
                                        f"{proxy.host}/{name}:1"], stdout=subprocess.DEVNULL, stderr=err,
                                       stdin=subprocess.DEVNULL, env={**os.environ, "MODELPACK_PROGRESS_INTERVAL": "1"})
        try:
            assert held.arrived.wait(60), "the upload never began"
            deadline = time.monotonic() + 20  # a bound on the wait, not an assertion on time
            while "push: " not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            held.release.set()
        assert process.wait(60) == 0, log.read_text()
    text = log.read_text()
    assert "\r" not in text and "\x1b" not in text
    progress = [line for line in text.splitlines() if line.startswith("push: ")]
    assert progress, text
    assert all(re.fullmatch(r"push: [\d.]+ (B|KiB|MiB) of [\d.]+ (B|KiB|MiB)", line) for line in progress), text
    assert text.splitlines()[-1].startswith(f"pushed {proxy.host}/{name}:1")


def test_a_malformed_progress_interval_is_refused(registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "w.bin").write_bytes(os.urandom(1000))
    bad = modelpack("push", "--plain-http", str(folder), registry.repo() + ":1",
                    env={"MODELPACK_PROGRESS_INTERVAL": "1m"})
    assert bad.code == 2
    assert bad.err.startswith("error: MODELPACK_PROGRESS_INTERVAL='1m'")
