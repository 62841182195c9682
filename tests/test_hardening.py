"""Hostile artifacts, size lies, interrupted pushes and concurrent use of one store."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack, tree
from hostile_artifacts import PLAIN, add, publish, raw, tar_layer
from modelpack.store.credentials import Credentials
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions
from registry_process import Registry


def run_concurrently(work: Callable[[int], None], count: int) -> list[BaseException]:
    """Run work(0) ... work(count - 1) on threads at once; the exceptions they raised."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


HOSTILE = {
    "dotdot": lambda: [raw("../escaped.txt")],
    "absolute": lambda: [raw("/tmp/modelpack-absolute.txt")],
    "nested-dotdot": lambda: [raw("a/../../escaped.txt")],
    "duplicate": lambda: [raw("same.txt", b"one"), raw("same.txt", b"two")],
    "tar-dotdot": lambda: [tar_layer(lambda t: add(t, "../escaped.txt"))],
    "tar-absolute": lambda: [tar_layer(lambda t: add(t, "/tmp/modelpack-abs.txt"))],
    "tar-symlink": lambda: [tar_layer(lambda t: (add(t, "link", kind=tarfile.SYMTYPE, link="/etc"),
                                                  add(t, "link/passwd")))],
    "tar-hardlink": lambda: [tar_layer(lambda t: add(t, "h", kind=tarfile.LNKTYPE, link="/etc/passwd"))],
    "tar-device": lambda: [tar_layer(lambda t: add(t, "dev", kind=tarfile.CHRTYPE))],
    # git runs hooks from .git/: git itself refuses any path component named .git (any case).
    "dotgit": lambda: [raw(".git/hooks/post-checkout", b"#!/bin/sh\ntouch pwned\n")],
    "dotgit-case": lambda: [raw("sub/.GiT/config")],
    "tar-dotgit": lambda: [tar_layer(lambda t: add(t, "repo/.Git/hooks/pre-commit"))],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_artifacts_are_refused_and_nothing_is_written(registry: Registry, tmp_path: Path,
                                                              case: str) -> None:
    ref = registry.repo() + ":evil"
    publish(ref, HOSTILE[case]())
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    result = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert result.code == 6, result.err
    assert result.err.startswith("error: refused") and len(result.err.strip().splitlines()) == 1
    assert sorted(p.name for p in work.iterdir()) == []  # no output, no leftover staging directory
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/modelpack-absolute.txt").exists()


def test_a_descriptor_that_lies_about_size_is_refused(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":lie"
    desc, data = raw("w.bin", b"A" * 100)
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    repo.push_blob(desc, lambda: io.BytesIO(data))
    publish(ref, [(desc.replace(size=50), data)])
    result = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"))
    assert result.code == 6 and "declared size" in result.err, result.err
    assert not (tmp_path / "out").exists()
    assert not list(LayoutStore().blobs.rglob(desc.digest.split(":")[1])) if LayoutStore().blobs.exists() else True


def test_push_killed_mid_upload_completes_when_run_again(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "big.safetensors").write_bytes(os.urandom(300 * 1024 * 1024))
    ref = registry.repo() + ":1"
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "push", "--plain-http", str(model), ref],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    again = modelpack("push", "--plain-http", str(model), ref, timeout=300)
    assert again.code == 0, again.err
    out = tmp_path / "out"
    assert modelpack("pull", "--plain-http", ref, "-o", str(out), env={"MODELPACK_HOME": str(tmp_path / "h")}).code == 0
    assert tree(out) == tree(model)


def test_parallel_pulls_and_packs_share_one_store(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    refs = []
    for i in range(6):
        model = tmp_path / f"m{i}"
        model.mkdir()
        (model / "w.safetensors").write_bytes(os.urandom(200_000))
        (model / "shared.json").write_text('{"same": true}')
        mp.push(model, f"{repo}:v{i}", options=PLAIN)
        refs.append(f"{repo}:v{i}")
    store = LayoutStore(tmp_path / "shared-store")

    def work(i: int) -> None:
        if i % 2:
            mp.pull(refs[i], options=PLAIN, store=store)
        else:
            mp.pack(tmp_path / f"m{i}", f"example.com/local/m:{i}", store=store)

    assert run_concurrently(work, 6) == []
    names = sorted(e.reference for e in store.entries())
    assert names == sorted([refs[1], refs[3], refs[5]] + [f"example.com/local/m:{i}" for i in (0, 2, 4)])
    index = json.loads((store.root / "index.json").read_text())
    assert len(index["manifests"]) == 6


def test_credentials_never_show_in_repr_or_errors() -> None:
    creds = Credentials("alice", "hunter2-secret")
    assert "hunter2" not in repr(creds) and "hunter2" not in str(creds)


def test_uploads_cut_or_refused_midway_are_retried(registry: Registry, tmp_path: Path) -> None:
    from fault_proxy import Fault, FaultProxy

    model = tmp_path / "m"
    model.mkdir()
    (model / "a.safetensors").write_bytes(os.urandom(3_000_000))  # monolithic PUT
    (model / "big.safetensors").write_bytes(os.urandom(40 * 1024 * 1024))  # streamed PATCH
    with FaultProxy(registry.host) as proxy:
        ref = proxy.host + "/" + registry.repo().split("/", 1)[1] + ":1"
        proxy.faults += [Fault(r"PUT .*/blobs/uploads/.*digest=", times=1, cut_request_after=1_000_000),
                         Fault(r"PATCH ", times=1, cut_request_after=5_000_000),
                         Fault(r"POST .*/blobs/uploads/", times=1, status=503, headers={"Retry-After": "0"}),
                         Fault(r"PUT .*/manifests/", times=1, status=429, headers={"Retry-After": "0"})]
        result = mp.push(model, ref, options=ClientOptions(plain_http=True, backoff=0.01))
        assert all(f.times == 0 for f in proxy.faults), "every fault was hit"
    out = tmp_path / "out"
    mp.pull(registry.host + "/" + ref.split("/", 1)[1], output=out, options=PLAIN, store=LayoutStore(tmp_path / "h"))
    assert tree(out) == tree(model)
    assert result.copied == 3


def test_parallel_pushes_of_different_tags_into_one_repository(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()

    def push(i: int) -> None:
        model = tmp_path / f"m{i}"
        model.mkdir()
        (model / "w.safetensors").write_bytes(os.urandom(500_000))
        (model / "config.json").write_text('{"shared": true}')  # the same blob from every pusher
        mp.push(model, f"{repo}:v{i}", options=PLAIN)

    assert run_concurrently(push, 6) == []
    remote = mp.remote(mp.Reference.parse(repo), PLAIN)
    assert sorted(remote.tags()) == [f"v{i}" for i in range(6)]
    for i in (0, 5):
        out = tmp_path / f"out{i}"
        mp.pull(f"{repo}:v{i}", output=out, options=PLAIN)
        assert tree(out) == tree(tmp_path / f"m{i}")
