"""A Ctrl-C or SIGTERM that lands while the command is still importing (click, every command's options:
~100 ms) ends it as one that lands later does: one line, exit 130 or 143, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# Imported first by Python's `site`: the signal is sent, to this very process, as the module SEND_ON_IMPORT
# starts to be imported, so it lands there every time rather than by luck of timing. (A plain finder:
# importlib.abc would import `typing` itself, before the command does.)
_SEND_WHILE_IMPORTING = """
import os, sys

class _Sender:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["SEND_ON_IMPORT"]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), int(os.environ["SEND_SIGNAL"]))
        return None

sys.meta_path.insert(0, _Sender())
"""


INTERRUPTED, TERMINATED = (signal.SIGINT, 130, "error: interrupted"), (signal.SIGTERM, 143, "error: terminated")


# click: the first of the command's own imports. typing and enum (with re, functools...): ~9 ms of a ~20 ms
# start, which `import modelpack` once made before the entry point could catch anything. enum comes with
# `signal` itself: a SIGTERM then, before its handler is set, has its default action (no output, no
# traceback), as in Python's own start-up.
@pytest.mark.parametrize(("module", "stop", "code", "said"), [
    ("click", *INTERRUPTED), ("click", *TERMINATED), ("typing", *INTERRUPTED), ("typing", *TERMINATED),
    ("enum", *INTERRUPTED), ("enum", signal.SIGTERM, -signal.SIGTERM, ""),
])
def test_a_signal_while_the_command_imports_is_one_line(tmp_path: Path, module: str, stop: signal.Signals,
                                                        code: int, said: str) -> None:
    (tmp_path / "sitecustomize.py").write_text(_SEND_WHILE_IMPORTING)
    # Without coverage's start-up hook (`make test` measures child processes): it imports typing and enum
    # itself before the command runs, so the signal would never be sent while the command imports them.
    env = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}
    env.update({"PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]), "SEND_SIGNAL": str(int(stop)),
                "SEND_ON_IMPORT": module, "MODELPACK_HOME": str(tmp_path / "home")})
    run = subprocess.run([sys.executable, "-m", "modelpack", "list"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert run.stderr.strip() == said
    assert run.returncode == code
