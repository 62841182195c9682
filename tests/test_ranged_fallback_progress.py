"""The progress a pull reports is the blobs' size exactly, also when a shifted range makes a ranged
download fall back to one plain stream: ranges stopped part-way had told their bytes already, and the
plain stream told again what it wrote past the bytes kept, so the bar went past the end (to 14 MiB of a
12 MiB blob here). A shifted range is what no real registry does: a small stdlib server gives it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import modelpack as mp
from hostile_registry import HostileRegistry, model_content, serve_content, weights_digest
from modelpack.store.copy_options import CopyOptions
from test_ranged import MIB, PLAIN, RangeServer
from test_ranged import split_at_once as split_at_once

__all__ = ["split_at_once"]


class Told:
    """A progress callback adding up what it is told (from several threads)."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.total += n


@pytest.mark.parametrize("shift_from", [None, 4, 2])
def test_the_progress_of_a_ranged_pull_is_the_blobs_size(tmp_path: Path, shift_from: int | None,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    blob = os.urandom(12 * MIB)
    content = model_content(blob)
    layer = weights_digest(content)
    config = next(data for key, (media, data) in content.items() if "config" in media)
    told = Told()
    with HostileRegistry() as registry:
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = RangeServer(blob, shift_from=shift_from)
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)
        with caplog.at_level("INFO", logger="modelpack.registry"):
            mp.pull(f"{registry.host}/a/b:1", output=tmp_path / "out", options=PLAIN,
                    copy_options=CopyOptions(progress=told))
    assert (tmp_path / "out" / "w.bin").read_bytes() == blob
    fell_back = any("one plain stream" in record.getMessage() for record in caplog.records)
    assert fell_back == (shift_from is not None)
    assert told.total == len(blob) + len(config)
