"""A pull into the local store stopped mid-blob (SIGKILL: an OOM kill, a node drain; or Ctrl-C) leaves
what it received of a large blob in ingest/, and the next pull of that model asks the registry only for the
rest (a Range request), verifies the whole blob and names it. Damaged kept bytes are caught by the digest
and the blob is fetched whole once more. Real registry behind tests/fault_proxy.py, which holds the
weight's download part-way so that the pull is stopped mid-blob, and records each request's Range."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy
from helpers import modelpack, push_weight
from modelpack.space import size_text
from modelpack.store.resumable_ingest import RESUME_MIN_BYTES
from registry_process import Registry
from test_concurrent_pulls import _wait_for
from test_transfer import _repo

WEIGHT = RESUME_MIN_BYTES + 3_000_017  # large enough to be resumed; not a multiple of the 1 MiB writes
HELD_AT = 20_000_000  # the proxy sends this much of the weight, then holds the rest


def _stop_mid_weight(proxy: FaultProxy, ref: str, digest: str, partial: Path, sig: signal.Signals,
                     *args: str) -> tuple[int, str]:
    """Start a pull of `ref` (`args`), stop it with `sig` once the weight is part-received; the bytes it kept,
    and what it said on stderr."""
    stall = Fault(f"GET .*/blobs/sha256:{digest}", times=1, stall_after=HELD_AT)
    proxy.faults.append(stall)
    process = subprocess.Popen([sys.executable, "-m", "modelpack", "pull", "--plain-http", ref, *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Everything the proxy sent but the last part of a 1 MiB buffer is written before it holds.
        _wait_for(lambda: partial.exists() and partial.stat().st_size >= HELD_AT - 1024 * 1024,
                  "the weight is part-received")
        process.send_signal(sig)
        _, err = process.communicate(timeout=30)
    finally:
        stall.release.set()
    assert process.returncode == (-9 if sig == signal.SIGKILL else 130), err
    return partial.stat().st_size, err


def pull_again_asks_only_the_rest(proxy: FaultProxy, ref: str, digest: str, kept: int, *args: str) -> None:
    """Run the stopped pull again: it succeeds, asking the registry once, for the bytes after `kept` only."""
    again = modelpack("pull", "--plain-http", "-v", ref, *args)
    assert again.code == 0, again.err
    assert [line.split(" ", 2)[2] for line in proxy.requests("GET", f"/blobs/sha256:{digest}")] == \
        [f"[Range: bytes={kept}-{WEIGHT - 1}]"]
    assert f"resuming at byte {kept} of {WEIGHT}" in again.err


def _blob(home: Path, digest: str) -> bytes:
    return (home / "blobs" / "sha256" / digest).read_bytes()


@pytest.mark.parametrize(("sig", "output"), [(signal.SIGKILL, False), (signal.SIGINT, False), (signal.SIGKILL, True)],
                         ids=["killed", "ctrl-c", "killed, -o --keep"])
def test_a_stopped_pull_is_resumed_where_it_stopped(registry: Registry, proxy: FaultProxy, tmp_path: Path,
                                                     modelpack_home: Path, sig: signal.Signals, output: bool) -> None:
    ref, weight, digest = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    partial = modelpack_home / "ingest" / f"{digest}.partial"
    args = ("-o", str(tmp_path / "out"), "--keep") if output else ()
    kept, err = _stop_mid_weight(proxy, ref, digest, partial, sig, *args)
    assert HELD_AT - 1024 * 1024 <= kept <= HELD_AT
    if sig == signal.SIGINT:  # said (it was not: only `error: interrupted`), as a stopped `pull -o` says of its folder
        assert err == (f"warning: kept {size_text(kept)} of unfinished downloads in the local store "
                       f"({partial.parent}): the same pull resumes them (`modelpack store gc` removes them)\n"
                       "error: interrupted\n")
    proxy.clear()

    pull_again_asks_only_the_rest(proxy, ref, digest, kept, *args)
    assert _blob(modelpack_home, digest) == weight
    if output:
        assert (tmp_path / "out" / "w.safetensors").read_bytes() == weight
    assert not partial.exists()
    check = modelpack("store", "check", "--json")
    assert check.code == 0 and json.loads(check.out)["ok"], check.out


def test_damaged_kept_bytes_are_caught_and_the_blob_fetched_whole(registry: Registry, proxy: FaultProxy,
                                                                   tmp_path: Path, modelpack_home: Path) -> None:
    ref, weight, digest = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    partial = modelpack_home / "ingest" / f"{digest}.partial"
    kept, _ = _stop_mid_weight(proxy, ref, digest, partial, signal.SIGKILL)
    with open(partial, "r+b") as f:  # a byte of what was kept goes bad (a crash, a disk, a hand)
        f.seek(kept // 2)
        byte = f.read(1)
        f.seek(kept // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    proxy.clear()

    again = modelpack("pull", "--plain-http", "-v", ref)
    assert again.code == 0, again.err
    ranges = [line.split(" ", 2)[2:] for line in proxy.requests("GET", f"/blobs/sha256:{digest}")]
    assert ranges == [[f"[Range: bytes={kept}-{WEIGHT - 1}]"], []]  # the rest, then (digest wrong) the whole
    assert "were damaged; fetching it whole" in again.err
    assert _blob(modelpack_home, digest) == weight
    assert not partial.exists()


def test_store_gc_removes_a_download_nobody_resumed(registry: Registry, proxy: FaultProxy, tmp_path: Path,
                                                    modelpack_home: Path) -> None:
    ref, _, digest = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    partial = modelpack_home / "ingest" / f"{digest}.partial"
    kept, _ = _stop_mid_weight(proxy, ref, digest, partial, signal.SIGKILL)
    gc = modelpack("store", "gc", "--json")
    assert gc.code == 0, gc.err
    assert not partial.exists()
    assert json.loads(gc.out)["ingestBytes"] >= kept, gc.out


def test_a_download_stopped_while_fetched_in_ranges_resumes_from_its_first_hole(
        registry: Registry, proxy: FaultProxy, tmp_path: Path, modelpack_home: Path) -> None:
    """A blob fetched in ranges (a capped link) is written at several places at once: stopped, its file
    has the bytes from its start, a hole, then a later range's bytes. Only the start is kept."""
    ref, weight, digest = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    partial = modelpack_home / "ingest" / f"{digest}.partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    prefix, ahead = 30_000_123, 50 * 1024 * 1024
    with open(partial, "wb") as f:
        f.write(weight[:prefix])
        f.seek(ahead)
        f.write(weight[ahead:ahead + 5_000_000])
    fd = os.open(partial, os.O_RDONLY)
    try:
        if os.lseek(fd, 0, os.SEEK_HOLE) >= partial.stat().st_size:
            pytest.skip("this filesystem does not report holes")
    finally:
        os.close(fd)

    again = modelpack("pull", "--plain-http", ref)
    assert again.code == 0, again.err
    [line] = proxy.requests("GET", f"/blobs/sha256:{digest}")
    start = int(line.split("bytes=")[1].split("-")[0])
    assert prefix - 2 * 64 * 1024 <= start <= prefix  # the written start, to within a block or two; not past it
    assert _blob(modelpack_home, digest) == weight


def test_a_whole_download_stopped_before_its_rename_is_not_fetched_again(
        registry: Registry, proxy: FaultProxy, tmp_path: Path, modelpack_home: Path) -> None:
    ref, weight, digest = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    partial = modelpack_home / "ingest" / f"{digest}.partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(weight)  # every byte received and synced; the process died before the rename
    proxy.clear()
    again = modelpack("pull", "--plain-http", ref)
    assert again.code == 0, again.err
    assert proxy.requests("GET", f"/blobs/sha256:{digest}") == []
    assert _blob(modelpack_home, digest) == weight
    assert not partial.exists()
