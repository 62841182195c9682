"""A layer path no filesystem can hold: a name of 300 bytes (Linux's filesystems, APFS and NTFS stop at
255) made `pull -o` fail with "File name too long" (exit 1, the code of a local failure) after creating the
folders before it. It is a path of the artifact that cannot be restored, refused as the others are (exit 6)
before anything is written; a name of 255 bytes is restored."""

from __future__ import annotations

from pathlib import Path

from registry_process import Registry
from test_lone_surrogates import push_raw, run


def test_a_name_longer_than_a_filesystem_allows_is_refused_before_anything_is_written(registry: Registry,
                                                                                      tmp_path: Path) -> None:
    ref = registry.repo() + ":1"
    long_name = "é" * 150  # 300 bytes in UTF-8: 150 characters
    push_raw(ref, "{}", path=f"models/{long_name}.bin")
    pulled = run("pull", "--plain-http", ref, "-o", str(tmp_path / "out"))
    assert pulled.returncode == 6, pulled.stderr
    said = pulled.stderr.decode()
    assert said.startswith("error: refused path 'models/") and said.count("\n") == 1, said
    assert "longer than" in said, said
    assert not (tmp_path / "out").exists()


def test_a_name_of_255_bytes_is_restored(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":1"
    name = "a" * 251 + ".bin"
    push_raw(ref, "{}", path=f"models/{name}")
    pulled = run("pull", "--plain-http", ref, "-o", str(tmp_path / "out"))
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "out" / "models" / name).read_bytes() == b"weights" * 10
