"""A Ctrl-C that lands in code Python runs from a string (`exec`: every dataclass's generated methods, a
namedtuple's, ~400 of them while `push` imports its modules) ends the command as any other Ctrl-C: one
line, exit 130, not killed by SIGINT (-2) after its `error: interrupted`. CPython takes a
KeyboardInterrupt that leaves such code for an uncaught one even when the command catches it, and under
`python -m` it then kills itself with SIGINT at exit (see modelpack.cli.entry); pushes interrupted at
random moments ended so 1 in 40."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from registry_process import Registry

# Imported by Python's `site`. Once the module ARM_ON_IMPORT starts to be imported (the API, inside the
# command's error handling), the next `exec` of a string first runs one that sends the signal and lets
# its handler raise there (the loop's backward jumps are where Python runs it), every time rather than
# by luck of timing; the exec it stood in front of is cut short, as a real Ctrl-C would cut it.
_SEND_IN_EXEC = """
import builtins, os, sys

_exec = builtins.exec

def _exec_with_signal(source, *args, **kwargs):
    if isinstance(source, str):
        builtins.exec = _exec
        _exec("import os\\nos.kill(os.getpid(), " + os.environ["SEND_SIGNAL"] + ")\\nfor _ in range(100000): pass",
              {})
    return _exec(source, *args, **kwargs)

class _Arm:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["ARM_ON_IMPORT"]:
            sys.meta_path.remove(self)
            builtins.exec = _exec_with_signal
        return None

sys.meta_path.insert(0, _Arm())
"""


def _run(tmp_path: Path, stop: signal.Signals, *args: str) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SEND_IN_EXEC)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path]), "SEND_SIGNAL": str(int(stop)),
           "ARM_ON_IMPORT": "modelpack.api"}
    return subprocess.run([sys.executable, "-m", "modelpack", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize(("stop", "code", "said"), [(signal.SIGINT, 130, "error: interrupted"),
                                                    (signal.SIGTERM, 143, "error: terminated")])
def test_a_signal_in_exec_code_while_pushing_exits_with_the_documented_code(
        tmp_path: Path, registry: Registry, stop: signal.Signals, code: int, said: str) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(10_000))
    run = _run(tmp_path, stop, "push", "--plain-http", str(model), registry.repo() + ":v1")
    assert (run.returncode, run.stderr.strip()) == (code, said)


@pytest.mark.parametrize(("stop", "code", "said"), [(signal.SIGINT, 130, "error: interrupted"),
                                                    (signal.SIGTERM, 143, "error: terminated")])
def test_a_signal_in_exec_code_while_pulling_exits_with_the_documented_code(
        tmp_path: Path, pushed: tuple[str, str], stop: signal.Signals, code: int, said: str) -> None:
    run = _run(tmp_path, stop, "pull", "--plain-http", pushed[1], "-o", str(tmp_path / "out"))
    assert (run.returncode, run.stderr.strip()) == (code, said)
    assert not (tmp_path / "out").exists()
