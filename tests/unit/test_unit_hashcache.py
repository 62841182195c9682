"""The hash cache: read a line at a time, keeping in memory only the entries of the files asked about."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelpack.oci import digest as digests
from modelpack.packing import hashcache
from modelpack.packing.hashcache import HashCache

pytestmark = pytest.mark.usefixtures("settled_files")


def _put(cache: HashCache, path: Path, digest: str) -> None:
    key = cache.key(path)
    assert key is not None
    cache.store(*key, digest)


def _files(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"f{i}\twith tab.bin"  # a name JSON escapes: the line format stays one tab-separated line
        path.write_bytes(b"%d" % i)
        paths.append(path)
    return paths


def test_digests_saved_are_found_again_until_the_file_changes(tmp_path: Path) -> None:
    a, b = _files(tmp_path / "m", 2)
    cache = HashCache(tmp_path / "hash-cache")
    _put(cache, a, digests.of_bytes(b"0"))
    _put(cache, b, digests.of_bytes(b"1"))
    cache.save()
    again = HashCache(tmp_path / "hash-cache")
    assert again.get_many([a, b, tmp_path / "absent"]) == {a: digests.of_bytes(b"0"), b: digests.of_bytes(b"1")}
    a.write_bytes(b"changed")
    os.utime(a, ns=(1, 1))
    assert again.get_many([a, b]) == {b: digests.of_bytes(b"1")}


def test_other_entries_are_streamed_through_a_save_and_the_oldest_dropped_past_the_cap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashcache, "MAX_ENTRIES", 3)
    paths = _files(tmp_path / "m", 5)
    (tmp_path / "hash-cache.json").write_text("{}")  # the whole-document form it replaces
    for i, path in enumerate(paths[:2]):
        cache = HashCache(tmp_path / "hash-cache")
        _put(cache, path, digests.of_bytes(b"%d" % i))
        cache.save()
    assert not (tmp_path / "hash-cache.json").exists()
    cache = HashCache(tmp_path / "hash-cache")
    assert cache.get_many(paths[:1]) == {paths[0]: digests.of_bytes(b"0")}  # kept, though not asked for since
    for i, path in enumerate(paths[2:], 2):
        _put(cache, path, digests.of_bytes(b"%d" % i))
    cache.save()
    lines = (tmp_path / "hash-cache").read_text().splitlines()
    assert len(lines) == 3
    assert HashCache(tmp_path / "hash-cache").get_many(paths) == {p: digests.of_bytes(b"%d" % i)
                                                                  for i, p in enumerate(paths) if i >= 2}


def test_a_damaged_line_only_misses(tmp_path: Path) -> None:
    (a,) = _files(tmp_path / "m", 1)
    cache = HashCache(tmp_path / "hash-cache")
    _put(cache, a, digests.of_bytes(b"0"))
    cache.save()
    good = (tmp_path / "hash-cache").read_text()
    name = good.split("\t")[0]
    (tmp_path / "hash-cache").write_text(f"{name}\tnot json\tsha256:zz\n" + "garbage\n" + good)
    assert HashCache(tmp_path / "hash-cache").get_many([a]) == {a: digests.of_bytes(b"0")}
    (tmp_path / "hash-cache").write_text(f"{name}\t[1,2,3]\t\"{digests.of_bytes(b'0')}\"\n")
    assert HashCache(tmp_path / "hash-cache").get_many([a]) == {}


def test_a_value_that_is_not_a_digest_is_no_files_digest(tmp_path: Path) -> None:
    (a,) = _files(tmp_path / "m", 1)
    cache = HashCache(tmp_path / "hash-cache")
    _put(cache, a, "sha256:short")
    cache.save()
    assert HashCache(tmp_path / "hash-cache").get_many([a]) == {}


def test_a_cold_build_takes_each_files_key_once_and_stores_its_digest(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The key get_many takes (before any file is read) is the one the digest is stored under: no second
    # stat per file, and a warm build finds every digest under it.
    from modelpack.metadata.schema import ModelMetadata
    from modelpack.packing.build import build

    model = tmp_path / "model"
    model.mkdir()
    for i in range(3):
        (model / f"w{i}.safetensors").write_bytes(os.urandom(1000 + i))
    taken: list[str] = []
    key = HashCache.key

    def counting(self: HashCache, path: str | Path) -> tuple[str, list[int]] | None:
        taken.append(os.path.basename(path))
        return key(self, path)

    monkeypatch.setattr(HashCache, "key", counting)
    cache = HashCache(tmp_path / "hash-cache")
    cold = build(model, ModelMetadata(name="m"), hashes=cache)
    assert sorted(taken) == ["w0.safetensors", "w1.safetensors", "w2.safetensors"]
    cache.save()
    warm = HashCache(tmp_path / "hash-cache")
    files = sorted(model.iterdir())
    assert warm.get_many(files) == {f: digests.of_bytes(f.read_bytes()) for f in files}
    assert [layer.descriptor.digest for layer in build(model, ModelMetadata(name="m"), hashes=warm).layers] == \
        [layer.descriptor.digest for layer in cold.layers]
