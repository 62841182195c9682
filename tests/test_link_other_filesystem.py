"""`--link` into a directory on another filesystem than the local store: hard links cannot cross it, so the
files are copies, and the user is told so in one warning line (not silently given writable copies that take
their own space, when the README promises read-only links and no extra space)."""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry


def _other_filesystem(tmp_path: Path) -> Path:
    """A fresh folder on a filesystem other than tmp_path's (/dev/shm is tmpfs on Linux)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (/dev/shm) here")
    return shm / f"modelpack-test-{uuid.uuid4().hex[:8]}"


def test_link_across_filesystems_copies_and_says_so(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(10_000))
    ref = registry.repo() + ":1"
    assert modelpack("push", "--plain-http", str(model), ref).code == 0
    out = _other_filesystem(tmp_path) / "out"
    try:
        run = modelpack("pull", "--plain-http", ref, "-o", str(out), "--link")
        assert run.code == 0, run.err
        assert run.err.splitlines()[0] == (
            f"warning: {out} is on another filesystem than the local store: hard links cannot reach it, so "
            "--link copies the files there (writable, taking their own space)")
        assert (out / "w.safetensors").read_bytes() == (model / "w.safetensors").read_bytes()
        assert os.stat(out / "w.safetensors").st_nlink == 1
        assert stat.S_IMODE(os.stat(out / "w.safetensors").st_mode) & 0o200  # a copy: left writable
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    # On the store's filesystem, no warning: the links are made.
    same = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "same"), "--link")
    assert same.code == 0 and "warning" not in same.err, same.err
    assert os.stat(tmp_path / "same" / "w.safetensors").st_nlink > 1
