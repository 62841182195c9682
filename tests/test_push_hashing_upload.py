"""A push into a new repository uploads each large file as it reads it and hashes the bytes it sends: the
file is read once, not once to hash and once to send. The artifact is the one the ordinary way makes;
a registry refusing the streamed upload gets the blob the ordinary way; a failure elsewhere in the push
ends it (nothing waits for a digest no upload will compute). Real registry behind tests/fault_proxy.py."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import tree
from modelpack.errors import ModelpackError
from modelpack.packing import build
from modelpack.store.layout import LayoutStore
from registry_process import Registry
from test_transfer import BIG, PLAIN, _digest, _model, _repo


class _Counting:
    """A stream that counts what is read from it, by path."""

    def __init__(self, stream: Any, counts: Counter[str], path: str) -> None:
        self._stream, self._counts, self._path = stream, counts, path

    def readinto(self, target: Any) -> int:
        n = self._stream.readinto(target)
        self._counts[self._path] += n or 0
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __enter__(self) -> _Counting:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    real = build.open_source
    monkeypatch.setattr(build, "open_source", lambda file: _Counting(real(file), counts, Path(file.path).name))
    return counts


def test_a_new_repository_gets_each_large_file_read_once(registry: Registry, proxy: FaultProxy, tmp_path: Path,
                                                          bytes_read: Counter[str]) -> None:
    model = _model(tmp_path / "m", {"a.safetensors": BIG, "b.safetensors": BIG + 12345, "config.json": 100})
    repo = _repo(registry, proxy)
    result = mp.push(model, repo + ":1", options=PLAIN)
    for name, size in (("a.safetensors", BIG), ("b.safetensors", BIG + 12345)):
        # Its first MiB (to tell it from an equal file), then once whole, by the upload that hashes it.
        assert size <= bytes_read[name] <= size + 1024 * 1024, bytes_read
    assert not proxy.requests("HEAD", "/blobs/sha256:")  # a new repository: nothing to ask about
    # The digests the uploads computed are in the hash cache: pushed again, nothing is read.
    bytes_read.clear()
    assert mp.push(model, repo + ":2", options=PLAIN).descriptor.digest == result.descriptor.digest
    assert sum(bytes_read.values()) == 0, bytes_read
    # The artifact the ordinary way makes (no cache; into a repository with tags: hashed first, then asked).
    again = mp.push(model, repo + ":3", options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert again.descriptor.digest == result.descriptor.digest
    assert bytes_read["a.safetensors"] >= BIG
    mp.pull(repo + ":1", output=tmp_path / "out", options=PLAIN)
    assert tree(tmp_path / "out") == tree(model)


def _versions(tmp_path: Path) -> tuple[Path, Path]:
    """v1, and v2 with a.safetensors changed (same size), u.safetensors unchanged, c.safetensors new."""
    v1 = _model(tmp_path / "v1", {"a.safetensors": BIG, "u.safetensors": BIG + 5, "config.json": 100})
    v2 = _model(tmp_path / "v2", {"a.safetensors": BIG, "c.safetensors": BIG + 777, "config.json": 100})
    (v2 / "u.safetensors").write_bytes((v1 / "u.safetensors").read_bytes())
    return v1, v2


def test_a_new_version_reads_each_changed_large_file_once(registry: Registry, proxy: FaultProxy, tmp_path: Path,
                                                          bytes_read: Counter[str]) -> None:
    # Into a repository with tags: a large file whose size no blob of the version pushed from has, or whose
    # bytes differ (three sampled windows) from that version's blob of its size, cannot be there already:
    # read once by the upload that hashes it, no HEAD. An unchanged one is hashed once and not sent.
    repo = _repo(registry, proxy)
    v1, v2 = _versions(tmp_path)
    mp.push(v1, repo + ":1", options=PLAIN)
    bytes_read.clear()
    proxy.clear()
    result = mp.push(v2, repo + ":2", options=PLAIN, store=LayoutStore(tmp_path / "store2"))  # a cold hash cache
    for name, size in (("a.safetensors", BIG), ("c.safetensors", BIG + 777), ("u.safetensors", BIG + 5)):
        assert size <= bytes_read[name] <= size + 1024 * 1024, (name, bytes_read)
    for name in ("a.safetensors", "c.safetensors"):
        digest = _digest(v2 / name).split(":")[1]
        assert not [line for line in proxy.requests("HEAD", "/blobs/sha256:") if digest in line], name
    unchanged = _digest(v2 / "u.safetensors").split(":")[1]
    assert not [line for line in proxy.requests("PUT", "/blobs/uploads/") if unchanged in line]
    # The artifact the ordinary way makes (a store of its own, a repository where no size is new).
    again = mp.push(v2, repo + ":3", options=PLAIN, store=LayoutStore(tmp_path / "store3"))
    assert again.descriptor.digest == result.descriptor.digest
    mp.pull(repo + ":2", output=tmp_path / "out", options=PLAIN)
    assert tree(tmp_path / "out") == tree(v2)


def test_a_registry_serving_no_ranges_gets_changed_files_hashed_first(registry: Registry, proxy: FaultProxy,
                                                                      tmp_path: Path,
                                                                      bytes_read: Counter[str]) -> None:
    # Without ranges nothing can be compared: a file of a known size is hashed first, then sent, as before.
    repo = _repo(registry, proxy)
    v1, v2 = _versions(tmp_path)
    mp.push(v1, repo + ":1", options=PLAIN)
    bytes_read.clear()
    proxy.faults.append(Fault("GET .*/blobs/sha256:", times=100, status=416))
    mp.push(v2, repo + ":2", options=PLAIN, store=LayoutStore(tmp_path / "store2"))
    assert bytes_read["a.safetensors"] >= 2 * BIG, bytes_read
    proxy.faults.clear()
    mp.pull(repo + ":2", output=tmp_path / "out", options=PLAIN)
    assert tree(tmp_path / "out") == tree(v2)


def test_a_refused_streamed_upload_is_sent_the_ordinary_way(registry: Registry, proxy: FaultProxy,
                                                            tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"a.safetensors": BIG})
    ref = _repo(registry, proxy) + ":1"
    proxy.faults.append(Fault("PATCH .*/blobs/uploads/", times=1, status=415))
    mp.push(model, ref, options=PLAIN)
    digest = _digest(model / "a.safetensors")
    assert [line for line in proxy.requests("PUT", "/blobs/uploads/") if digest.split(":")[1] in line]
    mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert tree(tmp_path / "out") == tree(model)


def test_a_failure_elsewhere_ends_the_push(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    # The small file's upload is refused for good while the large one's upload is under way: the push
    # fails with that refusal, and does not wait for a digest no upload will now compute.
    model = _model(tmp_path / "m", {"a.safetensors": 4 * BIG, "small.json": 100})
    ref = _repo(registry, proxy) + ":1"
    small = _digest(model / "small.json").split(":")[1]
    proxy.faults.append(Fault(f"PUT .*/blobs/uploads/.*digest=sha256:{small}", times=10, status=403,
                              body=b'{"errors":[{"code":"DENIED","message":"no"}]}'))
    failure: list[BaseException] = []

    def push() -> None:
        try:
            mp.push(model, ref, options=PLAIN)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=push, daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the push waited for ever"
    assert failure and isinstance(failure[0], ModelpackError), failure
