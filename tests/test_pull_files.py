"""pull -o writes the files straight from the registry: each blob received once, nothing kept in the store."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import modelpack, tree
from hostile_artifacts import publish, raw
from modelpack.oci.descriptor import Descriptor
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_transfer import _repo

PLAIN = ClientOptions(plain_http=True)


def _blob_gets(proxy: FaultProxy) -> list[str]:
    return [line.rsplit("/", 1)[1] for line in proxy.requests("GET", "/blobs/")]


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_are_written_once_each_and_the_store_keeps_nothing(registry: Registry, proxy: FaultProxy,
                                                                 tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / "copies").mkdir(parents=True)
    same = os.urandom(150_000)
    (model / "a.safetensors").write_bytes(same)
    (model / "copies" / "b.safetensors").write_bytes(same)  # the same bytes at two paths: one blob
    (model / "c.bin").write_bytes(os.urandom(70_000))
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    proxy.clear()
    result = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert tree(tmp_path / "out") == tree(model)
    gets = _blob_gets(proxy)
    assert len(gets) == len(set(gets)) == 3  # config, the shared blob once, c.bin
    a, b = (os.stat(tmp_path / "out" / p) for p in ("a.safetensors", "copies/b.safetensors"))
    assert a.st_ino != b.st_ino and a.st_nlink == b.st_nlink == 1  # independent files
    store = LayoutStore()
    assert mp.list_models() == [] and not list(store.blobs.rglob("*/*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "out"]  # no hidden folder left


def test_a_pull_into_a_directory_copies_what_the_store_already_has(registry: Registry, proxy: FaultProxy,
                                                                  tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(300_000))
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    mp.pull(ref, options=PLAIN)  # into the store
    proxy.clear()
    result = mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert result.copied == 0 and result.skipped == 2
    assert _blob_gets(proxy) == []
    out = tmp_path / "out" / "w.safetensors"
    assert out.read_bytes() == (model / "w.safetensors").read_bytes()
    assert os.stat(out).st_ino != os.stat(LayoutStore().blob_path(_sha(out))).st_ino


def test_force_downloads_only_the_files_that_differ(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    for name in ("keep.bin", "edit.bin"):
        (model / name).write_bytes(os.urandom(200_000))
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    out = tmp_path / "out"
    mp.pull(ref, output=out, options=PLAIN)
    with open(out / "edit.bin", "r+b") as f:
        f.write(b"changed")
    (out / "mine.txt").write_text("not the model's")
    proxy.clear()
    mp.pull(ref, output=out, options=PLAIN, force=True)
    assert _sha(model / "edit.bin") in _blob_gets(proxy)
    assert _sha(model / "keep.bin") not in _blob_gets(proxy)
    assert (out / "edit.bin").read_bytes() == (model / "edit.bin").read_bytes()
    assert (out / "mine.txt").read_text() == "not the model's"
    assert sorted(p.name for p in out.iterdir()) == ["edit.bin", "keep.bin", "mine.txt", "modelpack.yaml"]


def test_an_artifact_with_a_path_that_cannot_be_restored_is_refused_before_any_download(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    ref = _repo(registry, proxy) + ":evil"
    desc, data = raw("w.bin", os.urandom(100_000))
    nameless = Descriptor(mediaType=desc.media_type, digest=desc.digest, size=desc.size)  # no path at all
    publish(registry.host + "/" + ref.split("/", 1)[1], [(nameless, data)])
    proxy.clear()
    result = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"))
    assert result.code == 6 and "names no file path" in result.err, result.err
    assert _blob_gets(proxy) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_cut_connection_mid_blob_is_resumed_and_a_refusal_leaves_nothing(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(3_000_000))
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    proxy.faults.append(Fault("GET .*/blobs/", times=1, cut_after=1_000_000))
    mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert tree(tmp_path / "out") == tree(model)
    # The registry has lost the blob: the pull fails in one line and leaves nothing behind.
    work = tmp_path / "work"
    work.mkdir()
    proxy.faults.append(Fault("GET .*/blobs/sha256:" + _sha(model / "w.safetensors")[7:], times=50, status=404))
    refused = modelpack("pull", "--plain-http", ref, "-o", str(work / "out"), "--timeout", "20")
    assert refused.code != 0 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(("stop", "code", "said"), [(signal.SIGINT, 130, "error: interrupted"),
                                                    (signal.SIGTERM, 143, "error: terminated")])
def test_an_interrupted_pull_leaves_no_output(registry: Registry, proxy: FaultProxy, tmp_path: Path,
                                              stop: signal.Signals, code: int, said: str) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(8_000_000))
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    # The weight's GET is told to come back in a minute: the pull waits there, its hidden folder made.
    # Ctrl-C (or a SIGTERM: `kill`, a container stopped) must end it now, not after the back-off, and
    # clean up as it goes: SIGTERM's default action ended the process with the folder left behind.
    proxy.faults.append(Fault("GET .*/blobs/sha256:" + _sha(model / "w.safetensors")[7:], status=503,
                              headers={"Retry-After": "60"}))
    work = tmp_path / "work"
    work.mkdir()
    # (-X faulthandler: should it ever hang, SIGABRT prints every thread's stack, for the failure's message)
    process = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "modelpack", "pull", "--plain-http",
                                ref, "-o", str(work / "out")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(work.iterdir()):
        time.sleep(0.05)
    process.send_signal(stop)
    try:
        _, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        pytest.fail(f"still running 20 s after {stop.name}:\n{process.communicate(timeout=20)[1]}")
    assert list(work.iterdir()) == []
    assert process.returncode == code
    assert err.strip() == said



def test_force_looks_each_blob_up_once_not_through_every_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each blob scanned all the layers (and all the paths) for its own: `pull -o --force` of 8,000
    # unchanged files took 24 s against 0.7 s for 2,000. Counted here as passes over those lists.
    from modelpack.oci import digest as digests
    from modelpack.oci import mediatypes as media
    from modelpack.oci.descriptor import Manifest
    from modelpack.store import directory

    passes = [0]

    class Counted(list):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            passes[0] += 1
            return super().__iter__()

    class CountedPaths(dict):  # type: ignore[type-arg]
        def items(self):  # type: ignore[no-untyped-def]
            passes[0] += 1
            return super().items()

    out = tmp_path / "out"
    layers = []
    for i in range(40):
        rel, data = f"s/{i}.bin", b"same" if i % 4 == 0 else os.urandom(8)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
        layers.append(Descriptor(mediaType=media.layer_media_type("weight", "raw"), digest=digests.of_bytes(data),
                                 size=len(data), annotations={media.A_FILEPATH: rel, media.A_TITLE: rel}))
    config = Descriptor(mediaType=media.MODEL_CONFIG, digest=digests.of_bytes(b"{}"), size=2)
    manifest = Manifest(config=config, layers=Counted(layers))
    real_paths = directory.file_paths
    monkeypatch.setattr(directory, "file_paths", lambda m: CountedPaths(real_paths(m)))
    target = directory.DirectoryTarget(manifest, out, force=True)
    passes[0] = 0
    target.prepare_blobs(layers)
    assert all(target.has_blob(layer) for layer in layers)
    assert passes[0] <= 2, passes[0]
    target.close()


def test_a_pull_over_a_folder_stopped_by_sigterm_leaves_it_as_it_was(registry: Registry, proxy: FaultProxy,
                                                                     tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "w.safetensors").write_bytes(os.urandom(1_000_000))
    new = tmp_path / "new"
    new.mkdir()
    (new / "w.safetensors").write_bytes(os.urandom(1_000_000))
    ref = _repo(registry, proxy) + ":1"
    mp.push(new, ref, options=PLAIN)
    out = tmp_path / "out"
    shutil.copytree(old, out)
    before = tree(out)
    # The staging folder inside the output is made; then the weight's GET waits out a back-off. Every GET:
    # a small blob's first one is the quick path's, which hands the blob to a worker that asks again.
    proxy.faults.append(Fault("GET .*/blobs/sha256:" + _sha(new / "w.safetensors")[7:], times=5, status=503,
                              headers={"Retry-After": "60"}))
    process = subprocess.Popen([sys.executable, "-m", "modelpack", "pull", "--plain-http", ref, "-o", str(out),
                                "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not proxy.requests("GET", _sha(new / "w.safetensors")[7:]):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.wait(20)
    assert [path.name for path in out.iterdir()] == ["w.safetensors"]  # no staging folder left in it
    assert tree(out) == before  # the old file, whole
    assert process.returncode == 143


def test_files_received_at_their_paths_keep_modes_and_times_through_cut_connections(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    # Into a new output each file is received straight at its path in a hidden folder (staged_files); a
    # blob whose connection is cut is received again at the same path, and the folder becomes the output
    # only once every file is whole.
    model = tmp_path / "m"
    (model / "deep" / "er").mkdir(parents=True)
    files = {"small.json": os.urandom(300_000), "deep/er/big.safetensors": os.urandom(2_500_000),
             "deep/run.sh": b"#!/bin/sh\necho hi\n", "deep/er/twin.bin": b"same bytes", "twin.bin": b"same bytes"}
    for rel, data in files.items():
        (model / rel).write_bytes(data)
    os.chmod(model / "deep" / "run.sh", 0o755)
    os.utime(model / "small.json", (1_600_000_000, 1_600_000_000))
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    proxy.faults.append(Fault("GET .*/blobs/" + _sha(model / "small.json"), times=2, cut_after=1000))
    proxy.faults.append(Fault("GET .*/blobs/" + _sha(model / "deep/er/big.safetensors"), times=1, cut_after=100_000))
    out = tmp_path / "out"
    result = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert result.code == 0, result.err
    assert tree(out) == tree(model) and tree(out)["deep/run.sh"][1] == 0o755
    assert int(os.stat(out / "small.json").st_mtime) == 1_600_000_000
    assert os.stat(out / "twin.bin").st_ino != os.stat(out / "deep/er/twin.bin").st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "out"]  # no hidden folder left
