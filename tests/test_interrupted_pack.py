"""Ctrl-C while `pack` copies a large file into the local store ends the copy there: the worker went on to
the file's end (seconds per GB: a 1.5 GB file kept the command 4-5 s after its `error: interrupted`), and
the whole blob was then named in the store, for `store gc` to remove. The same holds for `push DIR oci:OUT`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelpack.oci import digest as digests

SIZE = 384 * 1024 * 1024  # long enough to be caught mid-copy, whatever the disk


def _copying(ingest: Path) -> bool:
    """Whether a blob file in `ingest` holds some, but not half, of the large file."""
    try:
        sizes = [p.stat().st_size for p in ingest.iterdir() if not p.name.endswith(".fetching")]
    except FileNotFoundError:
        return False
    return any(0 < size < SIZE // 2 for size in sizes)


@pytest.mark.parametrize("into", ["store", "layout"])
def test_ctrl_c_stops_the_copy_of_a_large_file_into_the_store(tmp_path: Path, into: str) -> None:
    model = tmp_path / "m"
    model.mkdir()
    chunk = os.urandom(1024 * 1024)
    with open(model / "weights.bin", "wb") as f:
        for _ in range(SIZE // len(chunk)):
            f.write(chunk)
    digest, _ = digests.of_file(model / "weights.bin")
    home = tmp_path / "home"
    layout = tmp_path / "layout"
    where = home if into == "store" else layout
    command = ["pack", str(model), "-t", "iris:1"] if into == "store" else ["push", str(model), f"oci:{layout}:1"]
    process = subprocess.Popen([sys.executable, "-m", "modelpack", *command],
                               env={**os.environ, "MODELPACK_HOME": str(home)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and not _copying(where / "ingest"):
            time.sleep(0.002)
        assert _copying(where / "ingest"), "the copy into the store was never seen under way"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert (process.returncode, err) == (130, "error: interrupted\n")
    # Stopped where it was: the file is not in the store, and nothing of it is left in ingest/.
    assert not (where / "blobs" / "sha256" / digest.split(":")[1]).exists()
    ingest = where / "ingest"  # (a layout's is removed once empty)
    assert not ingest.exists() or [p.name for p in ingest.iterdir() if not p.name.startswith(".")] == []
