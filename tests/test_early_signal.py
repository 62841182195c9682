"""A Ctrl-C or SIGTERM that lands while the command is still importing (click, every command's options:
~100 ms) ends it as one that lands later does: one line, exit 130 or 143, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# Imported first by Python's `site`: the signal is sent, to this very process, as `click` starts to be
# imported, so it lands there every time rather than by luck of timing.
_SEND_WHILE_IMPORTING = """
import importlib.abc, os, signal, sys

class _Sender(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "click":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), int(os.environ["SEND_SIGNAL"]))
        return None

sys.meta_path.insert(0, _Sender())
"""


@pytest.mark.parametrize(("stop", "code", "said"), [(signal.SIGINT, 130, "error: interrupted"),
                                                    (signal.SIGTERM, 143, "error: terminated")])
def test_a_signal_while_the_command_imports_is_one_line(tmp_path: Path, stop: signal.Signals, code: int,
                                                        said: str) -> None:
    (tmp_path / "sitecustomize.py").write_text(_SEND_WHILE_IMPORTING)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]), "SEND_SIGNAL": str(int(stop)),
           "MODELPACK_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-m", "modelpack", "list"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert run.stderr.strip() == said
    assert run.returncode == code
