"""A Ctrl-C or SIGTERM that lands while the command is still importing (click, every command's options:
~100 ms) ends it as one that lands later does: one line, exit 130 or 143, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


# The signal is sent from a `__del__` run as the module starts to be imported: Python cannot raise from
# there, so it printed "Exception ignored ... KeyboardInterrupt" and the command went on to its end (exit 0).
_SEND_FROM_DEL = """
import os, sys

class _Dropped:
    def __del__(self):
        os.kill(os.getpid(), int(os.environ["SEND_SIGNAL"]))

class _Sender:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["SEND_ON_IMPORT"]:
            sys.meta_path.remove(self)
            _Dropped()
        return None

sys.meta_path.insert(0, _Sender())
"""


def _run_sending(tmp_path: Path, sender: str, module: str, stop: signal.Signals,
                 command: tuple[str, ...] = ("-m", "modelpack")) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(sender)
    env = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}
    env.update({"PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]), "SEND_SIGNAL": str(int(stop)),
                "SEND_ON_IMPORT": module, "MODELPACK_HOME": str(tmp_path / "home")})
    return subprocess.run([*command, "list"], capture_output=True, text=True, env=env, timeout=60)


# The console script imports `modelpack` (then modelpack.cli, modelpack.cli.entry) before any `try` of
# ours: the package's __init__ imported the public names' list, the version and __future__ there.
@pytest.mark.parametrize("module", ["modelpack.public", "modelpack.version", "__future__"])
@pytest.mark.parametrize("script", [False, True])
def test_a_signal_while_the_package_itself_imports_is_one_line(tmp_path: Path, module: str, script: bool) -> None:
    command = (str(Path(sys.executable).with_name("modelpack")),) if script else (sys.executable, "-m", "modelpack")
    run = _run_sending(tmp_path, _SEND_WHILE_IMPORTING, module, signal.SIGINT, command)
    assert (run.stderr.strip(), run.returncode) == ("error: interrupted", 130)


@pytest.mark.parametrize(("module", "stop", "code", "said"), [("click", *INTERRUPTED), ("click", *TERMINATED),
                                                              ("modelpack.cli.main", *INTERRUPTED)])
def test_a_signal_python_could_not_raise_while_importing_still_stops(tmp_path: Path, module: str,
                                                                     stop: signal.Signals, code: int,
                                                                     said: str) -> None:
    run = _run_sending(tmp_path, _SEND_FROM_DEL, module, stop, (sys.executable, "-m", "modelpack"))
    assert (run.stderr.strip(), run.returncode) == (said, code)
    assert "no models" not in run.stdout + run.stderr  # the command did not run


@pytest.mark.parametrize(("stop", "code", "said"), [INTERRUPTED, TERMINATED])
def test_a_signal_python_could_not_raise_while_the_command_runs_still_stops(tmp_path: Path, stop: signal.Signals,
                                                                          code: int, said: str) -> None:
    # modelpack.api.core is imported by `list` as it runs, after start-up: the stop was printed as
    # "Exception ignored" and lost, and the command ran to its end (exit 0).
    run = _run_sending(tmp_path, _SEND_FROM_DEL, "modelpack.api.core", stop, (sys.executable, "-m", "modelpack"))
    assert (run.stderr.strip(), run.returncode) == (said, code)
    assert "no models" not in run.stdout + run.stderr


# The signal is sent from a descriptor's `__set_name__` as the module starts to be imported (ipaddress has
# such a class body, imported by pathlib): Python 3.11 hands the KeyboardInterrupt on wrapped in a
# RuntimeError ("Error calling __set_name__"), which printed its traceback (1 in ~600 starts in CI).
_SEND_FROM_SET_NAME = """
import os, sys
class _Sender:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["SEND_ON_IMPORT"]:
            sys.meta_path.remove(self)
            class _Named:
                def __set_name__(self, owner, attribute):
                    os.kill(os.getpid(), int(os.environ["SEND_SIGNAL"]))
                    for _ in range(1000):  # the handler runs at the next check, still in here
                        pass
            class _Owner:
                named = _Named()
        return None
sys.meta_path.insert(0, _Sender())
"""


@pytest.mark.parametrize(("stop", "code", "said"), [INTERRUPTED, TERMINATED])
def test_a_signal_inside_a_set_name_while_importing_is_one_line(tmp_path: Path, stop: signal.Signals, code: int,
                                                                said: str) -> None:
    run = _run_sending(tmp_path, _SEND_FROM_SET_NAME, "click", stop, (sys.executable, "-m", "modelpack"))
    assert (run.stderr.strip(), run.returncode) == (said, code)


def test_ctrl_c_at_any_moment_of_start_up_never_shows_a_traceback_of_modelpack(tmp_path: Path) -> None:
    """The console script interrupted after 0 to 60 ms: before Python's handler is set the signal kills it
    silently (-2); during Python's own start-up (`io`, `site`) and the console script's own import line
    (finding the package on sys.path, running its few module-level lines) Python reports it itself, as
    nothing of ours runs yet; from then on it is one line and exit 130. No traceback goes through a
    function of modelpack's, and no Ctrl-C is lost ("Exception ignored")."""
    script = str(Path(sys.executable).with_name("modelpack"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}
    env["MODELPACK_HOME"] = str(tmp_path / "home")
    clean = 0
    for i in range(60):
        child = subprocess.Popen([script, "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
        time.sleep(i / 1000)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
        ours = [line for line in err.splitlines() if line.lstrip().startswith("File") and "/modelpack/" in line
                and not line.endswith("in <module>")]
        assert not ours and "Exception ignored" not in err, err
        if child.returncode == 130:
            assert err.strip() == "error: interrupted"  # (click starts a new line after the ^C)
            clean += 1
        elif child.returncode == 0:
            assert "no models" in out + err  # finished before the signal
    assert clean > 0  # some landed while modelpack started
