"""An OCI layout modelpack writes holds only what the image-layout spec defines (`oci-layout`, `index.json`,
`blobs/<alg>/<hex>`) once the write ends: no `ingest/` folder, no lock file; concurrent writers still
take turns on index.json (every tag lands), and another tool's file in `ingest/` is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry
from test_image import push_base
from test_signing import keypair

pytestmark = pytest.mark.interop
SPEC_ENTRIES = ["blobs", "index.json", "oci-layout"]


def _model(root: Path, payload: bytes) -> Path:
    root.mkdir()
    # A leading byte no pickle opcode has: random bytes in a .bin file read as a pickle about 1.4 % of the
    # time (an EXT opcode first: see pickle_sniff), and `build-image --modelcar` then refused the model,
    # the one failure in 14 runs this test had (measured: 279 of 20,000 random 5,000-byte payloads).
    (root / "weights.bin").write_bytes(b"\0" + payload)
    (root / "shared.bin").write_bytes(b"the same in every model" * 1000)
    return root


def _assert_spec_only(layout: Path) -> None:
    assert sorted(os.listdir(layout)) == SPEC_ENTRIES
    assert os.listdir(layout / "blobs") == ["sha256"]
    assert all(len(name) == 64 for name in os.listdir(layout / "blobs" / "sha256"))


def _ok(*args: str, env: dict[str, str] | None = None) -> str:
    run = modelpack(*args, env=env)
    assert run.code == 0, run.err
    return run.out


def test_every_writer_leaves_only_the_spec_entries(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    ref = registry.repo("m") + ":1"
    _ok("push", "--plain-http", str(_model(tmp_path / "a", os.urandom(5000))), ref)
    _ok("copy", "--plain-http", ref, f"oci:{layout}:copied")
    _assert_spec_only(layout)
    _ok("push", str(_model(tmp_path / "b", os.urandom(5000))), f"oci:{layout}:packed")
    _assert_spec_only(layout)
    private, _ = keypair(tmp_path, "keys")
    _ok("sign", f"oci:{layout}:packed", "--key", str(private), env={"COSIGN_PASSWORD": "pw"})
    _assert_spec_only(layout)
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    _ok("build-image", "--plain-http", "--modelcar", ref, "-t", f"oci:{layout}:car", "--base", base)
    _assert_spec_only(layout)
    for tag in ("copied", "packed", "car"):
        resolved = subprocess.run([str(oras_bin), "resolve", "--oci-layout", f"{layout}:{tag}"], capture_output=True,
                                  text=True, timeout=60)
        assert resolved.returncode == 0, resolved.stderr


def test_concurrent_writers_each_land_their_tag(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    writers = []
    for i in range(6):
        model = _model(tmp_path / f"m{i}", os.urandom(300_000))
        writers.append(subprocess.Popen([sys.executable, "-m", "modelpack", "push", str(model), f"oci:{layout}:{i}"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    _assert_spec_only(layout)
    index = json.loads((layout / "index.json").read_text())
    tags = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])
    assert tags == [str(i) for i in range(6)]
    for i in range(6):  # every model reads back whole, each blob checked against its digest
        _ok("pull", f"oci:{layout}:{i}", "-o", str(tmp_path / f"out{i}"))
        assert (tmp_path / f"out{i}" / "weights.bin").read_bytes() == (tmp_path / f"m{i}" / "weights.bin").read_bytes()


def test_another_tools_file_in_ingest_is_left_alone(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    _ok("push", str(_model(tmp_path / "a", b"one")), f"oci:{layout}:1")
    theirs = layout / "ingest" / "oras_oci_storage_123"  # oras-go's name for a blob it is receiving
    theirs.parent.mkdir()
    theirs.write_bytes(b"in the making")
    _ok("push", str(_model(tmp_path / "b", b"two")), f"oci:{layout}:2")
    assert theirs.read_bytes() == b"in the making"
    assert sorted(os.listdir(layout / "ingest")) == ["oras_oci_storage_123"]  # nothing of ours beside it


def test_parallel_blobs_of_one_push_leave_no_ingest(tmp_path: Path) -> None:
    """Blobs received at once by one push's threads (62 here) end together: the last one out still finds
    itself alone and removes ingest/."""
    import modelpack as mp

    model = tmp_path / "many"
    model.mkdir()
    for i in range(60):
        (model / f"part{i:02}.bin").write_bytes(os.urandom(2000 + i))
    for trial in range(8):
        layout = tmp_path / f"layout{trial}"
        mp.push(model, f"oci:{layout}:1")
        _assert_spec_only(layout)
