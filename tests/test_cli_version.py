"""`modelpack --version` alone is answered before click and the commands' options are imported (half of
its start-up), with the very line, exit code and closed-pipe handling click's version option has."""

from __future__ import annotations

import os
import subprocess
import sys

_REPORT = (
    "import atexit, os, sys\n"
    "atexit.register(lambda: os.write(2, ('CLICK ' + str('click' in sys.modules) + '\\n').encode()))\n"
    "sys.argv[0] = 'modelpack'\n"
    "from modelpack.cli.entry import main\n"
    "main()\n"
)


def _run(*args: str, stdout: int = subprocess.PIPE) -> tuple[int, str, str]:
    run = subprocess.run([sys.executable, "-c", _REPORT, *args], stdout=stdout, stderr=subprocess.PIPE,
                         text=True, timeout=60)
    return run.returncode, run.stdout or "", run.stderr


def test_version_alone_needs_no_click_and_says_what_click_says() -> None:
    code, out, err = _run("--version")
    assert (code, err) == (0, "CLICK False\n")
    assert _run("-v", "--version") == (0, out, "CLICK True\n")  # click's own answer: the same line
    assert out.startswith("modelpack, version ")


def test_version_to_a_closed_pipe_fails_without_a_traceback_as_clicks_does() -> None:
    for args in (("--version",), ("-v", "--version")):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before anything is written: EPIPE
        try:
            code, _, err = _run(*args, stdout=write)
        finally:
            os.close(write)
        assert code == 1, (args, err)
        assert err.splitlines()[:-1] == [], (args, err)  # nothing but the report line
