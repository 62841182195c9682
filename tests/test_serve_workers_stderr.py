"""`serve --workers N`: what a worker writes on its stderr past our logging (a native library, the code a
trusted pickle runs) reaches our terminal escaped, one line for each of its lines, whatever its bytes;
the threads relaying them leave stop signals to the main thread."""

from __future__ import annotations

import operator
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import joblib

from serve_models import iris_skops
from test_ui_stop import unblocked_threads

# OSC 0 retitles the terminal, U+202E reverses what follows, 0xff 0xfe are not UTF-8 at all.
RAW = b"native: \x1b]0;pwned\x07\xe2\x80\xaeevil \xff\xfe bytes\nsecond line\n"
SHOWN = "native: \\x1b]0;pwned\\x07\\u202eevil \\xff\\xfe bytes"


class _Write:
    def __reduce__(self) -> tuple[Any, ...]:
        return os.write, (2, RAW)


class _Loud:
    """Unpickles as `model`, writing RAW to fd 2 on the way, as a native library's log would."""

    def __init__(self, model: object) -> None:
        self.model = model

    def __reduce__(self) -> tuple[Any, ...]:
        return operator.getitem, ((_Write(), self.model), 1)


def test_a_workers_raw_stderr_is_relayed_escaped_line_by_line(tmp_path: Path) -> None:
    folder, model = iris_skops(tmp_path / "loud")
    (folder / "model.skops").unlink()
    joblib.dump(_Loud(model), folder / "model.joblib")  # a directory's pickle is loaded: the user chose it
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", str(folder), "--port", "0",
                             "--workers", "2"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stderr is not None
    lines: list[bytes] = []
    watchdog = threading.Timer(120, proc.kill)  # a parent that never says it serves fails, not hangs
    watchdog.start()
    try:
        while not (line := proc.stderr.readline()).startswith(b"serving on"):
            assert line, "serve exited before serving: " + repr(b"".join(lines))
            lines.append(line)
        assert unblocked_threads(proc.pid) == []  # the relays leave stop signals to the main thread
    finally:
        proc.send_signal(signal.SIGTERM)
        err = (b"".join(lines) + proc.stderr.read()).decode("utf-8")
        code = proc.wait(timeout=60)
        watchdog.cancel()

    assert code == 0, err
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err, err
    assert err.splitlines().count(SHOWN) == 2, err  # one per worker, its newlines still line breaks
    assert err.splitlines().count("second line") == 2, err
    assert "Traceback" not in err


def test_a_model_no_worker_can_serve_is_one_error_line_not_one_per_worker(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = subprocess.run([sys.executable, "-m", "modelpack", "serve", str(tmp_path / "empty"), "--port", "0",
                          "--workers", "3"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [f"error: no model file modelpack can serve in {tmp_path / 'empty'} (.onnx, "
                                       "scikit-learn .skops/.joblib/.pkl, XGBoost .ubj/.bst/.json)"], run.stderr
