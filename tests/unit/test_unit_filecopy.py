"""filecopy: the copy of a blob is exact and independent, whichever way the kernel allows."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from modelpack import filecopy


def _source(tmp_path: Path, size: int = 3 * 1024 * 1024 + 17) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "blob"
    path.write_bytes(data)
    return path, data


def test_copy_is_exact_and_independent(tmp_path: Path) -> None:
    source, data = _source(tmp_path)
    how = filecopy.clone_or_copy(source, tmp_path / "out")
    assert how in ("reflink", "copy_file_range", "copy")
    assert (tmp_path / "out").read_bytes() == data
    assert os.stat(tmp_path / "out").st_ino != os.stat(source).st_ino
    with open(tmp_path / "out", "ab") as f:
        f.write(b"edit")
    assert source.read_bytes() == data


def test_falls_back_to_a_buffered_copy_where_copy_file_range_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, data = _source(tmp_path)
    calls = []

    def refuse_after_one(src: int, dst: int, count: int, *args: object) -> int:
        calls.append(count)
        if len(calls) > 1:  # part copied, then "not across these filesystems"
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return os.write(dst, os.read(src, 1000))

    monkeypatch.setattr(filecopy, "_reflink", lambda src, dst: False)
    monkeypatch.setattr(os, "copy_file_range", refuse_after_one)
    assert filecopy.clone_or_copy(source, tmp_path / "out") == "copy"
    assert (tmp_path / "out").read_bytes() == data


def test_a_real_failure_is_raised_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, _ = _source(tmp_path)

    def full(*args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(filecopy, "_reflink", lambda src, dst: False)
    monkeypatch.setattr(os, "copy_file_range", full)
    with pytest.raises(OSError, match="No space"):
        filecopy.clone_or_copy(source, tmp_path / "out")


def test_an_existing_target_is_never_written_through(tmp_path: Path) -> None:
    source, _ = _source(tmp_path, 10)
    victim = tmp_path / "victim"
    victim.write_bytes(b"mine")
    (tmp_path / "out").symlink_to(victim)
    with pytest.raises(FileExistsError):
        filecopy.clone_or_copy(source, tmp_path / "out")
    assert victim.read_bytes() == b"mine"
