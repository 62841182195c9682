"""A file inside a folder packed as one tar layer (`files: {archives: [data]}`) that is written to while the
push sends that layer: the tar was hashed before it was sent, so what is sent then is no longer that blob.
The push must end in one line naming the file and what to do (exit 6), and leave nothing tagged. So must a
file packed as its own layer, rewritten at the same size while it is sent after it was hashed: the registry
refuses the digest (DIGEST_INVALID), and the file is named instead of `registry refused sha256:...: content
does not match` (looked at only once refused: a push that succeeds pays nothing).

A real registry behind `FaultProxy`, which holds the layer's upload while the file is changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy, change_when_held
from helpers import Run, modelpack
from registry_process import Registry

MIB = 1 << 20
SIZE = 40 * MIB
# Each more than sockets buffer. Under 32 MiB, a file is hashed, then sent (PUT); from 32 MiB, into a repository
# with tags but no model to compare with, its upload starts beside the hash (PATCH, then a PUT naming the digest).
SIZES = {"hashed first": (30 * MIB, r"^PUT /v2/.*/blobs/uploads/.*digest="),
         "hashed beside": (40 * MIB, r"^PATCH /v2/")}


def _one_line(run: Run, code: int) -> str:
    lines = run.err.strip().splitlines()
    assert run.code == code, run.err[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err[-2000:]
    assert "Traceback" not in run.err and "internal error" not in run.err, run.err
    return lines[0]


def _push_changing(registry: Registry, folder: Path, ref: str, request: str, victim: Path, change: str) -> Run:
    """Push `folder` to `ref`, each upload `request` held once 4 MiB went through while `victim` is changed."""
    with FaultProxy(registry.host) as proxy:
        held = Fault(request, times=5, pause_request_after=4 * MIB)
        proxy.faults.append(held)
        editor = change_when_held(held, victim, change, os.urandom(MIB))
        run = modelpack("push", "--plain-http", str(folder), f"{proxy.host}/{ref}", timeout=180)
        held.release.set()
        editor.join()
    return run


@pytest.mark.parametrize("change", ["same-size", "grows", "shrinks"])
def test_a_file_of_a_tar_layer_changing_while_it_is_pushed(registry: Registry, tmp_path: Path,
                                                           change: str) -> None:
    folder = tmp_path / "m"
    (folder / "data").mkdir(parents=True)
    (folder / "modelpack.yaml").write_text("name: m\nfiles: {archives: [data]}\n")
    (folder / "w.safetensors").write_bytes(os.urandom(4096))
    victim = folder / "data" / "shard.bin"
    victim.write_bytes(os.urandom(SIZE))
    ref = f"{registry.repo().split('/', 1)[1]}:1"
    # Every blob upload held: only the tar layer is that large.
    run = _push_changing(registry, folder, ref, r"^PUT /v2/.*/blobs/uploads/.*digest=", victim, change)
    line = _one_line(run, 6)
    assert line == "error: data/shard.bin changed while it was being packed; run again once nothing writes to it", line
    assert modelpack("inspect", "--plain-http", "--remote", f"{registry.host}/{ref}").code == 3  # nothing tagged


@pytest.mark.parametrize("compress", ["", "gzip"])
def test_a_tar_layer_read_after_a_member_changed_names_it(tmp_path: Path, compress: str) -> None:
    # What a push into the local store or an `oci:` layout reads after hashing: the layer's stream ends in
    # the error naming the file, before its last bytes, so no blob is stored under the digest hashed.
    from modelpack.errors import IntegrityError
    from modelpack.metadata.load import load_metadata
    from modelpack.packing.build import build

    folder = tmp_path / "m"
    (folder / "data").mkdir(parents=True)
    rules = f"{{archives: [data], compress: {compress}}}" if compress else "{archives: [data]}"
    (folder / "modelpack.yaml").write_text(f"name: m\nfiles: {rules}\n")
    (folder / "data" / "a.csv").write_text("x\n1\n")
    (folder / "data" / "b.csv").write_text("y\n2\n")
    packed = build(folder, load_metadata(folder, use_git=False), workers=1)
    (layer,) = [item for item in packed.layers if item.source.archive]
    victim = folder / "data" / "a.csv"
    before = victim.stat().st_mtime_ns
    victim.write_text("x\n3\n")  # the same size, written (as a writer would) at a later time
    os.utime(victim, ns=(before + 10**9, before + 10**9))
    stream = packed.open_blob(layer.descriptor)
    with pytest.raises(IntegrityError) as err:
        while stream.read(1 << 20):
            pass
    assert str(err.value) == "data/a.csv changed while it was being packed; run again once nothing writes to it"
    assert err.value.exit_code == 6


@pytest.mark.parametrize("upload", SIZES)
def test_a_single_file_layer_rewritten_while_it_is_pushed_is_named(registry: Registry, tmp_path: Path,
                                                                   upload: str) -> None:
    size, request = SIZES[upload]
    folder = tmp_path / "m"
    (folder / "data").mkdir(parents=True)
    (folder / "w.safetensors").write_bytes(os.urandom(4096))
    repo = registry.repo().split("/", 1)[1]
    if upload == "hashed beside":  # a tag, but none a push compares with (a signature's is skipped)
        tagged = modelpack("push", "--plain-http", str(folder), f"{registry.host}/{repo}:sha256-{'0' * 64}")
        assert tagged.code == 0, tagged.err
    victim = folder / "data" / "x.bin"
    victim.write_bytes(os.urandom(size))
    ref = f"{repo}:1"
    run = _push_changing(registry, folder, ref, request, victim, "same-size")  # only x.bin is that large
    line = _one_line(run, 6)
    assert line == "error: data/x.bin changed while it was being packed; run again once nothing writes to it", line
    assert modelpack("inspect", "--plain-http", "--remote", f"{registry.host}/{ref}").code == 3  # nothing tagged
