"""`pull -o DIR` stopped mid-blob (SIGKILL: an init container OOM-killed or preempted; or Ctrl-C) keeps what
it received of a large blob in a hidden folder beside DIR (inside it when merging into it), and the same
pull run again asks the registry only for the rest. Real registry behind tests/fault_proxy.py, which
holds the weight's download part-way and records each request's Range."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy
from helpers import modelpack, push_weight
from registry_process import Registry
from test_concurrent_pulls import _wait_for
from test_resumed_pull import HELD_AT, WEIGHT, _stop_mid_weight, pull_again_asks_only_the_rest
from test_transfer import _repo


def _kept_folder(out: Path, merge: bool) -> Path:
    return out / ".modelpack-partial-resume" if merge else out.parent / f".{out.name}.partial-resume"


@pytest.mark.parametrize(("sig", "merge"), [(signal.SIGKILL, False), (signal.SIGINT, False), (signal.SIGKILL, True)],
                         ids=["killed", "ctrl-c", "killed, merging into a folder with files"])
def test_a_stopped_pull_into_a_folder_is_resumed_where_it_stopped(
        registry: Registry, proxy: FaultProxy, tmp_path: Path, modelpack_home: Path, sig: signal.Signals,
        merge: bool) -> None:
    ref, weight, digest = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    out = tmp_path / "out"
    args = ["-o", str(out)]
    if merge:
        out.mkdir()
        (out / "notes.txt").write_text("mine\n")
        args.append("--force")
    partial = _kept_folder(out, merge) / f"{digest}.partial"
    kept, _ = _stop_mid_weight(proxy, ref, digest, partial, sig, *args)
    assert kept > 0
    proxy.clear()

    pull_again_asks_only_the_rest(proxy, ref, digest, kept, *args)
    assert (out / "w.safetensors").read_bytes() == weight
    assert not _kept_folder(out, merge).exists()  # nothing left to resume: the folder goes
    assert not (modelpack_home / "blobs" / "sha256" / digest).exists()  # -o alone keeps no store copy
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []
    if merge:
        assert (out / "notes.txt").read_text() == "mine\n"


def test_ctrl_c_says_where_the_download_is_kept_and_how_to_resume(
        registry: Registry, proxy: FaultProxy, tmp_path: Path, modelpack_home: Path) -> None:
    ref, _, digest = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    out = tmp_path / "out"
    partial = _kept_folder(out, False) / f"{digest}.partial"
    stall = Fault(f"GET .*/blobs/sha256:{digest}", times=1, stall_after=HELD_AT)
    proxy.faults.append(stall)
    process = subprocess.Popen([sys.executable, "-m", "modelpack", "pull", "--plain-http", ref, "-o", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: partial.exists() and partial.stat().st_size >= HELD_AT - 1024 * 1024,
                  "the weight is part-received")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        stall.release.set()
    assert process.returncode == 130, err
    assert f"unfinished downloads in {partial.parent}: the same pull into {out} resumes them" in err
    assert "Traceback" not in err
    assert not out.exists()  # the output is made only once every file is whole


def test_a_planted_link_for_the_kept_folder_is_not_written_through(
        registry: Registry, proxy: FaultProxy, tmp_path: Path, modelpack_home: Path) -> None:
    """Whoever can write beside the output could point the kept folder elsewhere: the pull then keeps
    nothing there and receives the blob as any other."""
    ref, weight, _ = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    os.symlink(elsewhere, _kept_folder(out, False))
    pulled = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert pulled.code == 0, pulled.err
    assert (out / "w.safetensors").read_bytes() == weight
    assert list(elsewhere.iterdir()) == []
    assert os.path.islink(_kept_folder(out, False))  # left as it was found


def test_kept_bytes_count_as_on_disk_already(registry: Registry, proxy: FaultProxy, tmp_path: Path,
                                             modelpack_home: Path) -> None:
    """A finished pull leaves no kept folder, and one that resumes a blob whole on disk (stopped between its
    last byte and its rename) asks nothing of the registry for it."""
    ref, weight, digest = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    out = tmp_path / "out"
    folder = _kept_folder(out, False)
    folder.mkdir()
    (folder / f"{digest}.partial").write_bytes(weight)
    proxy.clear()
    pulled = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert pulled.code == 0, pulled.err
    assert proxy.requests("GET", f"/blobs/sha256:{digest}") == []
    assert (out / "w.safetensors").read_bytes() == weight
    assert not folder.exists()
