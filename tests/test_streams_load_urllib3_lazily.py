"""urllib3 (with http.client, ssl and email: ~35 ms of CPU) is imported only by a command that streams: a
model of small files is pushed, listed and pulled through the curl engine alone, and a large blob's pull
still streams through urllib3's pools, its bytes verified (store/wire_errors.py says why)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from registry_process import Registry

_REPORT = (
    "import atexit, os, sys\n"
    "atexit.register(lambda: os.write(2, ('LOADED ' + ' '.join(m for m in ('urllib3', 'http.client', 'ssl')\n"
    "                                                         if m in sys.modules) + '\\n').encode()))\n"
    "sys.argv[0] = 'modelpack'\n"
    "from modelpack.cli.entry import main\n"
    "main()\n"
)


def _run(*args: str) -> tuple[int, set[str], str]:
    """A modelpack command in a fresh interpreter: its exit code, the HTTP modules loaded, its stderr."""
    run = subprocess.run([sys.executable, "-c", _REPORT, *args], capture_output=True, text=True, timeout=120)
    line = next(line for line in run.stderr.splitlines() if line.startswith("LOADED"))
    return run.returncode, set(line.split()[1:]), run.stderr


def test_small_files_move_without_urllib3_and_a_large_blob_streams_through_it(
        registry: Registry, modelpack_home: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    (small / "tokenizer.json").write_text('{"vocab": {}}')
    (small / "weights.bin").write_bytes(os.urandom(64 * 1024))
    ref = registry.repo() + ":1"
    for args in (("push", "--plain-http", str(small), ref), ("ls", "--plain-http", ref.rsplit(":", 1)[0]),
                 ("pull", "--plain-http", ref, "-o", str(tmp_path / "out"))):
        code, loaded, err = _run(*args)
        assert code == 0, err
        assert loaded == set(), (args, loaded)
    assert (tmp_path / "out" / "weights.bin").read_bytes() == (small / "weights.bin").read_bytes()

    large = tmp_path / "large"
    large.mkdir()
    (large / "model.safetensors").write_bytes(os.urandom(3 * 1024 * 1024))  # past the curl engine's 1 MiB
    big_ref = registry.repo() + ":big"
    assert _run("push", "--plain-http", str(large), big_ref)[0] == 0
    code, loaded, err = _run("pull", "--plain-http", big_ref, "-o", str(tmp_path / "big-out"))
    assert code == 0, err
    assert "urllib3" in loaded, loaded
    assert (tmp_path / "big-out" / "model.safetensors").read_bytes() == (large / "model.safetensors").read_bytes()
