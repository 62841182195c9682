"""A large received file is handed to the disk window by window as it arrives (sync_file_range), so
its final fsync waits for the last window only and at most two windows are ever dirty."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelpack.store import write_behind
from modelpack.store.write_behind import WINDOW, WriteBehind


def test_windows_are_started_as_they_fill_and_the_one_before_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int, int]] = []

    def fake(fd: int, offset: int, nbytes: int, flags: int) -> int:
        calls.append((offset, nbytes, flags))
        return 0

    monkeypatch.setattr(write_behind, "_sync_file_range", lambda: fake)
    behind = WriteBehind(7)
    behind.wrote(WINDOW - 1)  # not a whole window yet
    assert calls == []
    behind.wrote(WINDOW + 5)
    behind.wrote(WINDOW + 6)
    behind.wrote(2 * WINDOW + 5)
    behind.wrote(3 * WINDOW + 5)
    start, wait = 2, 1 | 2 | 4
    assert calls == [
        (0, WINDOW + 5, start),
        (WINDOW + 5, WINDOW, start), (0, WINDOW + 5, wait),
        (2 * WINDOW + 5, WINDOW, start), (WINDOW + 5, WINDOW, wait),
    ]


def test_a_filesystem_that_refuses_is_left_to_the_final_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def refusing(fd: int, offset: int, nbytes: int, flags: int) -> int:
        calls.append(offset)
        return -1

    monkeypatch.setattr(write_behind, "_sync_file_range", lambda: refusing)
    behind = WriteBehind(7)
    behind.wrote(WINDOW)
    behind.wrote(3 * WINDOW)
    assert calls == [0]  # asked once, then never again


@pytest.mark.skipif(not WriteBehind.available(), reason="no sync_file_range in this C library")
def test_the_real_call_is_accepted_and_the_bytes_are_intact(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    piece = os.urandom(1 << 20)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        behind = WriteBehind(fd)
        written = 0
        for _ in range(3 * WINDOW // len(piece)):
            written += os.write(fd, piece)
            behind.wrote(written)
        assert behind._call is not None  # the kernel took every request
        os.fsync(fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == piece * (3 * WINDOW // len(piece))
