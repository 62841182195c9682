"""Folders packed as one tar layer (`files.archives`) are hashed once: an unchanged folder is re-pushed
without reading any of its files, and any change to a member (its bytes, even with its mtime put back, its
mode, its mtime alone, one added, removed or renamed) packs it again, to the digest a first pack gives."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import tree
from modelpack.packing import tarball
from modelpack.packing.build import PackedModel
from modelpack.packing.hashcache import HashCache
from modelpack.packing.select import SourceFile
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions
from registry_process import Registry

pytestmark = pytest.mark.usefixtures("settled_files")

PLAIN = ClientOptions(plain_http=True, backoff=0.01)


def _model(root: Path, compress: str | None = None) -> Path:
    for i in range(30):
        (root / "data" / f"part{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / "data" / f"part{i % 3}" / f"{i:02}.txt").write_bytes(os.urandom(200) + b"%d\n" % i)
    (root / "model.safetensors").write_bytes(os.urandom(5000))
    rules = "archives: [data]" + (f", compress: {compress}" if compress else "")
    (root / "modelpack.yaml").write_text(f"name: many\nfiles: {{{rules}}}\n")
    return root


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The members of folders' tars read, by path, in order."""
    seen: list[str] = []
    opened = tarball.open_source

    def counting(item: SourceFile) -> object:
        seen.append(item.relpath)
        return opened(item)

    monkeypatch.setattr(tarball, "open_source", counting)
    yield seen


def _fresh(model: Path, tmp_path: Path) -> str:
    """The digest of the folder's layer as a first pack (an empty cache) makes it."""
    fresh = HashCache(tmp_path / f"fresh-{len(list(tmp_path.glob('fresh-*')))}.json")
    return _data_layer(mp.describe(model, hashes=fresh))


def _data_layer(model: PackedModel) -> str:
    return next(layer.descriptor.digest for layer in model.layers if layer.source.relpath == "data")


@pytest.mark.parametrize("compress", [None, "gzip", "zstd"])
def test_an_unchanged_folder_is_packed_once(tmp_path: Path, reads: list[str], compress: str | None) -> None:
    model = _model(tmp_path / "m", compress)
    first = mp.describe(model)
    assert len(reads) == 30
    reads.clear()
    again = mp.describe(model)
    assert reads == [] and again.manifest_bytes == first.manifest_bytes
    assert again.config_bytes == first.config_bytes  # diffIDs too (the uncompressed tars' digests)


def _edit_in_place_keeping_mtime(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    with open(path, "r+b") as f:  # same inode, same size
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back; ctime cannot be


def _chmod(path: Path) -> None:
    path.chmod(0o600)


def _touch(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def _add(path: Path) -> None:
    (path.parent / "new.txt").write_bytes(b"new\n")


def _remove(path: Path) -> None:
    path.unlink()


def _rename(path: Path) -> None:
    path.rename(path.parent / "renamed.txt")


def _relink(path: Path) -> None:
    other = path.parent.parent.parent / "elsewhere.txt"  # outside the folder, inside the model
    other.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(os.path.relpath(other, path.parent))  # same name, same bytes, another file


@pytest.mark.parametrize("change", [_edit_in_place_keeping_mtime, _chmod, _touch, _add, _remove, _rename, _relink])
def test_any_change_to_a_member_packs_the_folder_again(tmp_path: Path, reads: list[str],
                                                       change: Callable[[Path], None]) -> None:
    model = _model(tmp_path / "m")
    before = _data_layer(mp.describe(model))
    change(model / "data" / "part1" / "04.txt")
    reads.clear()
    after = _data_layer(mp.describe(model))
    assert reads, "the folder was not packed again"
    assert after == _fresh(model, tmp_path)
    if change is not _relink:  # (the same tar, from another file)
        assert after != before
    reads.clear()
    assert _data_layer(mp.describe(model)) == after and reads == []  # and cached as changed


def test_unchanged_repush_of_folders_sends_only_what_changed(registry: Registry, proxy: FaultProxy,
                                                             tmp_path: Path, reads: list[str]) -> None:
    model = _model(tmp_path / "m")
    for folder in ("more", "most"):
        (model / folder).mkdir()
        (model / folder / "a.txt").write_bytes(os.urandom(100))
    (model / "modelpack.yaml").write_text("name: many\nfiles: {archives: [data, more, most]}\n")
    ref = proxy.host + "/" + registry.repo().split("/", 1)[1] + ":1"
    mp.push(model, ref, options=PLAIN)
    reads.clear()
    proxy.clear()
    again = mp.push(model, ref, options=PLAIN)
    assert reads == [] and again.copied == 0
    assert [line.split()[0] for line in proxy.requests()] == ["GET"]  # the tag's manifest, nothing else
    (model / "more" / "a.txt").write_bytes(os.urandom(100))
    reads.clear()
    proxy.clear()
    changed = mp.push(model, ref, options=PLAIN)
    assert reads == ["more/a.txt"] * len(reads) and reads  # that folder alone was packed (hashed, then sent)
    assert changed.copied == 2  # its layer and the config
    assert len(proxy.requests("PUT", "/blobs/uploads/")) == 2
    mp.pull(ref, output=tmp_path / "out", options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert tree(tmp_path / "out") == tree(model)


def test_another_modelpack_code_packs_the_folder_again(tmp_path: Path, reads: list[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder's entry is kept under modelpack's code (see code_stamp), not only ARCHIVE_FORMAT: a writer
    changed without that number bumped reads the folder again instead of answering the older bytes' digest."""
    from modelpack.packing import archive_key

    model = _model(tmp_path / "m")
    hashes = HashCache(tmp_path / "hashes.json")
    mp.describe(model, hashes=hashes)
    reads.clear()
    mp.describe(model, hashes=hashes)
    assert reads == []  # kept: the same code
    monkeypatch.setattr(archive_key, "code_stamp", lambda: "another build")
    mp.describe(model, hashes=hashes)
    assert sorted(set(reads)) == sorted(f"data/part{i % 3}/{i:02}.txt" for i in range(30))


def test_modelpack_code_is_stamped_once_per_process(registry: Registry, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """code_stamp walked the installed package (~300 stats) once per folder-archive layer and twice per push;
    the code a process runs does not change under it, so it is walked once."""
    from modelpack import code_stamp

    root = os.path.dirname(os.path.abspath(mp.__file__))
    walks: list[str] = []
    walk = os.walk

    def counting(top: str, *args: object, **kwargs: object) -> object:
        if os.fspath(top) == root:
            walks.append(top)
        return walk(top, *args, **kwargs)  # type: ignore[call-overload]

    model = _model(tmp_path / "m")
    (model / "more").mkdir()
    (model / "more" / "a.txt").write_bytes(os.urandom(100))
    (model / "modelpack.yaml").write_text("name: many\nfiles: {archives: [data, more]}\n")
    getattr(code_stamp.code_stamp, "cache_clear", lambda: None)()  # (what an earlier test took: not this one's)
    monkeypatch.setattr(os, "walk", counting)
    first = code_stamp.code_stamp()
    ref = registry.repo() + ":1"
    pushed = mp.push(model, ref, options=PLAIN)
    again = mp.push(model, ref, options=PLAIN)  # unchanged: answered by the folder's record
    assert again.descriptor.digest == pushed.descriptor.digest and again.copied == 0
    assert walks == [root]
    assert code_stamp.code_stamp() == first
