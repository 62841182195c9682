"""A pull killed with SIGKILL (an OOM kill, a node drain, a CI timeout) cannot clean up after itself; the
next pull does. It used to leave what the killed one had received to `store gc` (a half-received 70 GB
blob in ingest/, so the retry needed the space twice), and `pull -o` left its hidden download folder
beside (or, in a mount point, inside) the output for good. A Kubernetes volume is a mount point: `pull -o`
into it failed (`Device or resource busy`: it cannot be replaced by a rename), and a leftover inside it
made the retry refuse it as "not empty". Real registry behind tests/fault_proxy.py, which holds the
weight's download half-way so that the pull is killed mid-blob."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy
from helpers import modelpack, push_weight
from registry_process import Registry
from test_concurrent_pulls import _wait_for
from test_transfer import _repo

WEIGHT = 8_000_000


def _pull(ref: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "modelpack", "pull", "--plain-http", ref, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _received(folder: Path, pattern: str = "*") -> bool:
    """Whether a file of more than 0 bytes is being received in the `pattern` folders of `folder` (or
    `folder` itself): not a lock file."""
    folders = [folder] if pattern == "*" else list(folder.glob(pattern))
    return any(p.is_file() and not p.name.endswith(".fetching") and p.stat().st_size > 0
               for f in folders for p in f.rglob("*"))


def _kill_mid_weight(registry: Registry, proxy: FaultProxy, tmp_path: Path, where: Path, pattern: str,
                     *args: str) -> str:
    """Push a model, start a pull of it (`args`), SIGKILL it once the weight is half received in the
    `pattern` folders of `where`. Returns the reference."""
    ref, _, digest = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    # The weight's first download stops after 3 MB (more than one 1 MiB write) until released.
    stall = Fault(f"GET .*/blobs/sha256:{digest}", times=1, stall_after=3_000_000)
    proxy.faults.append(stall)
    process = _pull(ref, *args)
    try:
        _wait_for(lambda: stall.times == 0 and _received(where, pattern), "the weight is half received")
        process.kill()
        process.communicate(timeout=30)
    finally:
        stall.release.set()
    return ref


def test_a_pull_after_a_killed_one_frees_its_half_received_blob(registry: Registry, proxy: FaultProxy,
                                                                 tmp_path: Path, modelpack_home: Path) -> None:
    ingest = modelpack_home / "ingest"
    ref = _kill_mid_weight(registry, proxy, tmp_path, ingest, "*")
    assert _received(ingest)  # what the killed pull left
    again = modelpack("pull", "--plain-http", ref)
    assert again.code == 0, again.err
    assert sorted(p.name for p in ingest.iterdir()) == []  # was: the 3 MB it had received, until `store gc`
    check = modelpack("store", "check", "--json")
    assert check.code == 0 and json.loads(check.out)["ok"], check.out


def test_a_pull_into_a_folder_after_a_killed_one_removes_its_hidden_folder(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ref = _kill_mid_weight(registry, proxy, tmp_path, tmp_path, ".out.partial-*", "-o", str(out))
    assert [p.name for p in tmp_path.glob(".out.partial-*")]  # what the killed pull left beside the output
    again = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert again.code == 0, again.err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert (out / "w.safetensors").stat().st_size == WEIGHT


@contextlib.contextmanager
def _mounted(path: Path) -> Iterator[None]:
    """A tmpfs mounted at `path` (as a Kubernetes emptyDir volume is a mount point in the container)."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(path)], capture_output=True,
                           text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def test_pull_into_an_empty_mount_point_and_again_after_a_kill(registry: Registry, proxy: FaultProxy,
                                                               tmp_path: Path) -> None:
    volume = tmp_path / "models"
    with _mounted(volume):
        ref = _kill_mid_weight(registry, proxy, tmp_path, volume, ".modelpack-partial-*", "-o", str(volume))
        assert [p.name for p in volume.iterdir()] and all(p.name.startswith(".modelpack-partial-")
                                                          for p in volume.iterdir())
        again = modelpack("pull", "--plain-http", ref, "-o", str(volume))  # was: "exists and is not empty"
        assert again.code == 0, again.err
        assert sorted(p.name for p in volume.iterdir()) == ["modelpack.yaml", "w.safetensors"]
        unpacked = tmp_path / "unpacked"
        with _mounted(unpacked):
            pulled = modelpack("pull", "--plain-http", ref)
            assert pulled.code == 0, pulled.err
            unpack = modelpack("unpack", ref, "-o", str(unpacked))  # was: Device or resource busy (exit 1)
            assert unpack.code == 0, unpack.err
            assert (unpacked / "w.safetensors").read_bytes() == (volume / "w.safetensors").read_bytes()
