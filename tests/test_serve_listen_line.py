"""`serve --host 0.0.0.0` (as in a container) printed `POST http://0.0.0.0:PORT/...` and `serving on
http://0.0.0.0:PORT/v2`, and `--host ::` `http://:::PORT/v2` (no URL at all): the lines now name URLs this
machine can open, as `ui` does."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from serve_models import iris_skops


@pytest.mark.parametrize(("host", "shown"), [("0.0.0.0", "http://127.0.0.1:"), ("::", "http://[::1]:")])
def test_on_every_interface_the_serving_lines_are_urls_to_open(tmp_path: Path, host: str, shown: str) -> None:
    folder, _ = iris_skops(tmp_path / "iris")
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", "--host", host, "--port", "0", str(folder)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    try:
        model_line, serving_line = proc.stderr.readline(), proc.stderr.readline()
        if "Address family not supported" in model_line + serving_line:
            pytest.skip("no IPv6 here")
        assert model_line.startswith(f"model iris 1.0: POST {shown}"), model_line
        assert serving_line.startswith(f"serving on {shown}"), serving_line
        live = requests.get(serving_line.split()[-1] + "/health/live", timeout=60)
        assert live.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
