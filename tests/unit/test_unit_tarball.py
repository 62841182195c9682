"""tar_chunks: reproducible, valid tar streams."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from modelpack.errors import IntegrityError
from modelpack.packing.select import SourceFile
from modelpack.packing.tarball import tar_chunks

MTIME = 1_700_000_000
LONG_NAME = "deep/" + "d" * 120 + "/" + "f" * 150 + ".bin"
RANDOM = os.urandom(3000)


def make_tree(root: Path) -> list[SourceFile]:
    """Files with several modes, sizes around block boundaries, a long and a non-ASCII name; sorted."""
    spec = {
        "a.txt": (b"hello\n", 0o644),
        "bin/run.sh": (b"#!/bin/sh\necho hi\n", 0o755),
        "block.bin": (bytes(range(256)) * 2, 0o600),  # exactly one 512-byte block
        LONG_NAME: (b"x" * 513, 0o640),
        "empty": (b"", 0o644),
        "modèle/poids.bin": (RANDOM, 0o444),
    }
    for rel, (data, mode) in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    dirs: set[str] = set()
    for rel in spec:
        parent = PurePosixPath(rel).parent
        while str(parent) != ".":
            dirs.add(str(parent))
            parent = parent.parent
    items = [SourceFile(rel, root / rel, 0o755, 0, 0, is_dir=True) for rel in dirs]
    for rel, (data, mode) in spec.items():
        items.append(SourceFile(rel, root / rel, mode, len(data), 0))
    return sorted(items, key=lambda f: f.relpath)


def build(files: list[SourceFile], mtime: int = MTIME) -> bytes:
    return b"".join(tar_chunks(files, mtime))


def test_tar_is_readable_with_sorted_entries_fixed_owner_and_mtime(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    data = build(files)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        members = tar.getmembers()
        names = [m.name.rstrip("/") for m in members]
        assert names == [f.relpath for f in files]
        assert names == sorted(names)
        for member, item in zip(members, files, strict=True):
            assert member.uid == 0 and member.gid == 0
            assert member.uname == "" and member.gname == ""
            assert member.mtime == MTIME
            if item.is_dir:
                assert member.isdir()
                assert member.mode == 0o755
            else:
                assert member.isfile()
                assert member.mode == item.mode
                assert member.size == item.size
                extracted = tar.extractfile(member)
                assert extracted is not None
                assert extracted.read() == item.path.read_bytes()


def test_long_and_non_ascii_names_survive(tmp_path: Path) -> None:
    data = build(make_tree(tmp_path / "src"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        names = tar.getnames()
    assert LONG_NAME in names
    assert "modèle/poids.bin" in names


def test_two_runs_give_identical_bytes(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    assert build(files) == build(files)


def test_same_content_elsewhere_gives_identical_bytes(tmp_path: Path) -> None:
    # Where the files live does not matter, only relative names, modes and content.
    a = make_tree(tmp_path / "a")
    b = make_tree(tmp_path / "b")
    assert build(a) == build(b)


def test_mtime_and_mode_change_the_bytes(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    assert build(files, MTIME) != build(files, MTIME + 1)
    changed = [SourceFile(f.relpath, f.path, 0o600, f.size, f.mtime) if f.relpath == "a.txt" else f for f in files]
    assert build(changed) != build(files)


def test_length_is_a_whole_number_of_records(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    for subset in (files, files[:1], files[-1:], []):
        data = build(subset)
        assert len(data) % 10240 == 0
        assert len(data) >= 10240


def test_empty_archive_is_a_valid_empty_tar() -> None:
    data = build([])
    assert data == b"\0" * 10240
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        assert tar.getmembers() == []


def test_chunks_are_bytes_and_large_file_streams(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    payload = os.urandom(3 * 1024 * 1024 + 7)
    path.write_bytes(payload)
    chunks = list(tar_chunks([SourceFile("big.bin", path, 0o644, len(payload), 0)], MTIME))
    assert all(isinstance(c, bytes) for c in chunks)
    assert max(len(c) for c in chunks) <= 1024 * 1024 + 10240
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r:") as tar:
        member = tar.extractfile("big.bin")
        assert member is not None
        assert member.read() == payload


def test_file_that_grew_is_an_integrity_error(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"0123456789")
    with pytest.raises(IntegrityError, match="changed"):
        build([SourceFile("w.bin", path, 0o644, 5, 0)])


def test_file_that_shrank_is_an_integrity_error(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"0123")
    with pytest.raises(IntegrityError, match="changed"):
        build([SourceFile("w.bin", path, 0o644, 10, 0)])
