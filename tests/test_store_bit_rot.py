"""A stored blob whose bytes changed but not its size (bit rot, an edit under MODELPACK_HOME). `pull` of a
model the store holds trusts the names and sizes, as containerd trusts its content store (re-hashing
on every pull would read the whole model each time); everything that takes bytes out of the store hashes
them first, so nothing corrupt leaves it: `pull -o` fetches that blob again, `unpack` and `push` stop
with the fix named (push said only that the registry refused the content), and `store check` finds it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


def _rot(home: Path, content: bytes) -> str:
    """Flip bytes inside the stored blob holding `content`, keeping its size; its digest."""
    digest = hashlib.sha256(content).hexdigest()
    path = home / "blobs" / "sha256" / digest
    path.chmod(0o644)
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"\xff\xfe\xfd\xfc")
    path.chmod(0o444)
    return "sha256:" + digest


def _model(root: Path) -> bytes:
    root.mkdir()
    weight = os.urandom(300_000)
    (root / "w.safetensors").write_bytes(weight)
    return weight


def test_a_rotten_blob_never_leaves_the_store(registry: Registry, tmp_path: Path, modelpack_home: Path) -> None:
    weight = _model(tmp_path / "m")
    ref = registry.repo() + ":1"
    mp.push(tmp_path / "m", ref, options=PLAIN)
    assert modelpack("pull", "--plain-http", ref).code == 0
    digest = _rot(modelpack_home, weight)

    check = modelpack("store", "check", "--json")
    assert check.code == 6 and json.loads(check.out)["repull"] == {ref: [digest]}, check.out
    assert "pull the models named above again" in check.err

    again = modelpack("pull", "--plain-http", ref)  # trusted: a stat per blob, no re-read of the model
    assert again.code == 0 and "already present" in again.err, again.err

    unpack = modelpack("unpack", ref, "-o", str(tmp_path / "u"))
    assert unpack.code == 6 and f"local store blob {digest} was corrupt" in unpack.err, unpack.err
    assert "pull (or pack) the model again" in unpack.err and not (tmp_path / "u").exists()

    refetch = modelpack("pull", "--plain-http", ref)  # the blob unpack removed is fetched again
    assert refetch.code == 0 and ": 1 blob (" in refetch.err, refetch.err
    _rot(modelpack_home, weight)
    out = tmp_path / "out"
    files = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert files.code == 0, files.err
    assert (out / "w.safetensors").read_bytes() == weight  # verified copy refused, the blob downloaded


def test_push_of_a_rotten_blob_names_the_local_copy(registry: Registry, tmp_path: Path,
                                                    modelpack_home: Path) -> None:
    weight = _model(tmp_path / "m")
    ref = registry.repo() + ":1"
    mp.pack(tmp_path / "m", ref)
    digest = _rot(modelpack_home, weight)
    push = modelpack("push", "--plain-http", ref)
    assert push.code == 6, push.err
    # was: "registry refused sha256:...: content does not match", as if the network were at fault
    assert f"local store blob {digest} was corrupt" in push.err and "pull (or pack) the model again" in push.err
