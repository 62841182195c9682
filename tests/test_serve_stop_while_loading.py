"""A stop signal while `serve` loads its model is a requested stop, as once serving: the copy of the model
unpacked for loading is removed (by each worker too), the lines are those of a stop, and the exit is 0.

The model is a pickle (trusted on purpose) whose loading sleeps, so the signal comes while it loads."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import modelpack as mp
from registry_process import Registry
from test_serve_lifecycle import PLAIN, copies
from test_serve_lifecycle import processes as processes
from test_serve_lifecycle import scratch as scratch


class SlowToLoad:
    def __reduce__(self) -> tuple[object, tuple[int]]:
        return time.sleep, (120,)


@pytest.fixture
def slow_ref(registry: Registry, tmp_path: Path) -> str:
    folder = tmp_path / "slow"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(SlowToLoad()))
    (folder / "modelpack.yaml").write_text("name: slow\nversion: '1'\nframework: scikit-learn\n")
    ref = registry.repo() + ":1"
    mp.push(folder, ref, options=PLAIN)
    return ref


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_while_loading_removes_the_unpacked_copy_and_exits_0(
        slow_ref: str, scratch: Path, processes: list[subprocess.Popen[str]], workers: str,
        stop: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", slow_ref, "--plain-http",
                             "--trust-unverified-pickle", "--port", "0", "--workers", workers],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    processes.append(proc)
    deadline = time.monotonic() + 60
    # Loading: each process has unpacked its copy (and is sleeping in the pickle).
    while len([c for c in copies(scratch) if (c / "model" / "model.pkl").exists()]) < int(workers):
        assert time.monotonic() < deadline and proc.poll() is None, "the model was not being loaded"
        time.sleep(0.05)
    proc.send_signal(stop)
    assert proc.wait(timeout=60) == 0
    assert proc.stderr is not None
    said = [line for line in proc.stderr.read().splitlines() if not line.startswith("warning: ")]
    assert said == [f"{stop.name} received: finishing the requests in flight, then stopping", "stopped"], said
    assert copies(scratch) == []


def test_an_import_a_stop_cut_short_is_the_stop_not_a_missing_runtime() -> None:
    """SIGTERM inside a runtime's import (onnxruntime's, as a --workers worker loads) can leave it half
    initialised, so the import fails as an ImportError: that is the stop, not "serving needs onnxruntime"
    (exit 2, which made a requested stop of `serve --workers` exit 2 about one time in ten)."""
    code = """if True:
        import os, signal
        from modelpack.cli.stops import Terminated, stop_on_sigterm_as_on_ctrl_c
        from modelpack.serve.runtimes import require
        stop_on_sigterm_as_on_ctrl_c()
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # as it lands inside an import
        except Terminated:
            pass
        try:
            require("modelpack_no_such_runtime")
        except Terminated:
            print("stopped")
        except Exception as exc:
            print(type(exc).__name__)
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "stopped", out.stdout + out.stderr
