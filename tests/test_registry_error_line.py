"""A registry's refusal without an error body (a HEAD answer never has one) is one line that states the
status once: a copy into a Distribution pull-through cache (whose HEAD of a manifest its upstream lacks
answers 500) said `answered HTTP 500 (HTTP 500)`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from helpers import modelpack
from registry_process import Registry


def test_a_bodiless_refusal_names_the_status_once(fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    origin = fresh_registry()
    cache = fresh_registry(proxy=origin.url)
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(1000))
    src = f"{origin.host}/team/m:1"
    assert modelpack("push", "--plain-http", str(model), src).code == 0
    run = modelpack("copy", "--plain-http", "--timeout", "2", src, f"{cache.host}/other/m:1")
    assert run.code == 1
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    assert lines[0].endswith(f"{cache.host} answered HTTP 500"), run.err
