"""`serve --workers N` says which model it serves, once, as `serve` does: the model line, then "serving on"
last (a supervisor takes that line as ready); the URL it names answers an inference request."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from serve_models import iris_skops
from serving import serving_lines


def _lines_until_serving(*extra: str, folder: Path) -> list[str]:
    with serving_lines(str(folder), "--port", "0", *extra) as lines:
        url = re.fullmatch(r"model iris 1\.0: POST (\S+)", lines[-2])
        assert url is not None, lines
        body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}
        answer = requests.post(url.group(1), json=body, timeout=30)
        assert answer.status_code == 200, answer.text
    return lines


def test_workers_say_the_model_once_before_serving_on(tmp_path: Path) -> None:
    folder, _ = iris_skops(tmp_path / "iris")
    one = _lines_until_serving(folder=folder)
    three = _lines_until_serving("--workers", "3", folder=folder)
    assert sum(line.startswith("model ") for line in three) == 1, three
    assert re.sub(r":\d+/", ":PORT/", three[-2]) == re.sub(r":\d+/", ":PORT/", one[-2])  # the same line
    assert three[-1].endswith("(3 workers)")
