"""A Ctrl-C or SIGTERM that lands once the command's work is done, while Python shuts down, leaves the
exit status the work's: the command is not reported as killed by it (-2, -15) after it succeeded. One that
lands while the last output is still being flushed is one line and 130 or 143, not a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# Imported by Python's `site`: the object is collected as Python finalizes its modules (after it set the
# signals' handling back to the default), and sends the signal then, every time rather than by timing.
_SEND_WHILE_FINALIZING = """
import os

class _LateSignal:
    def __init__(self, signum):
        self.send = lambda: os.kill(os.getpid(), signum)

    def __del__(self):
        self.send()

_late = _LateSignal(int(os.environ["SEND_SIGNAL"]))
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_python_shuts_down_keeps_the_works_exit_status(tmp_path: Path, stop: signal.Signals) -> None:
    (tmp_path / "sitecustomize.py").write_text(_SEND_WHILE_FINALIZING)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]), "SEND_SIGNAL": str(int(stop)),
           "MODELPACK_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-m", "modelpack", "list"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert run.returncode == 0, (run.returncode, run.stderr)
    assert run.stderr.strip() == "no models in the local store"


# Imported by Python's `site`: stdout's first flush sends the signal and lets its handler raise inside it.
# `list` of an empty store writes to stderr alone, so that flush is the one the command makes as it ends,
# before it ignores the signals: a reader slow to take the last output holds the command there.
_SEND_WHILE_FLUSHING = """
import io, os, sys

class _SignalOnFlush(io.TextIOWrapper):
    sent = False

    def flush(self):
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), int(os.environ["SEND_SIGNAL"]))
            for _ in range(100000):
                pass
        super().flush()

sys.stdout = _SignalOnFlush(sys.stdout.detach(), encoding="utf-8", line_buffering=False)
"""


@pytest.mark.parametrize(("stop", "code", "said"), [(signal.SIGINT, 130, "error: interrupted"),
                                                    (signal.SIGTERM, 143, "error: terminated")])
def test_a_signal_while_the_last_output_is_flushed_is_one_line(tmp_path: Path, stop: signal.Signals, code: int,
                                                               said: str) -> None:
    (tmp_path / "sitecustomize.py").write_text(_SEND_WHILE_FLUSHING)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]), "SEND_SIGNAL": str(int(stop)),
           "MODELPACK_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-m", "modelpack", "list"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert (run.returncode, run.stderr.strip()) == (code, f"no models in the local store\n{said}")


# Imported by Python's `site`: the first "error: " line written to stderr sends the signal, whose handler
# raises inside the command's failure handling (after its line, before its exit), as a supervisor's SIGTERM
# did to a `serve --workers` worker that had just said why it could not load the model.
_SEND_AFTER_THE_ERROR_LINE = """
import io, os, sys

class _SignalAfterError(io.TextIOWrapper):
    sent = False

    def write(self, text):
        written = super().write(text)
        if text.startswith("error: ") and not self.sent:
            self.sent = True
            os.kill(os.getpid(), int(os.environ["SEND_SIGNAL"]))
        return written

sys.stderr = _SignalAfterError(sys.stderr.detach(), encoding="utf-8", line_buffering=True)
"""


@pytest.mark.parametrize(("stop", "code", "said"), [(signal.SIGINT, 130, "error: interrupted"),
                                                    (signal.SIGTERM, 143, "error: terminated")])
def test_a_signal_while_the_error_is_said_adds_one_line_not_a_blank_one(tmp_path: Path, stop: signal.Signals,
                                                                        code: int, said: str) -> None:
    (tmp_path / "sitecustomize.py").write_text(_SEND_AFTER_THE_ERROR_LINE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]), "SEND_SIGNAL": str(int(stop)),
           "MODELPACK_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-m", "modelpack", "unpack", "example.com/never/pulled:v1", "-o",
                          str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=60)
    lines = run.stderr.splitlines()
    assert (run.returncode, len(lines), lines[-1]) == (code, 2, said), run.stderr  # click put a blank line between
    assert lines[0].startswith("error: ") and lines[0] != said, run.stderr
