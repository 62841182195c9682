"""`store check --repair` makes a writable blob read-only; one that is also a hard link outside the store
(a user's file, made writable there) gets a read-only copy of its own instead, so that locking the store's
blob does not lock the user's file, and editing the user's file cannot change the store's blob. The copy is
written in ingest/ and renamed over the blob, so nothing is left there."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from helpers import modelpack


def test_repair_gives_a_blob_shared_with_an_outside_file_its_own_read_only_copy(
        tmp_path: Path, modelpack_home: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(300_000))
    assert modelpack("pack", str(model), "-t", "local/m:1").code == 0
    blob = next(p for p in (modelpack_home / "blobs" / "sha256").iterdir() if p.stat().st_size == 300_000)
    outside = tmp_path / "mine.bin"
    os.link(blob, outside)
    outside.chmod(0o644)  # the one inode both names share: the store's blob is writable too
    found = json.loads(modelpack("store", "check", "--json").out)
    assert found["writable"] == [f"sha256:{blob.name}"]

    repaired = modelpack("store", "check", "--repair")
    assert repaired.code == 0, repaired.out + repaired.err
    assert "1 blob made read-only" in repaired.out, repaired.out
    assert blob.stat().st_ino != outside.stat().st_ino and blob.stat().st_nlink == 1
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # the user's file is left as it was
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    assert outside.read_bytes() == blob.read_bytes()
    assert [p.name for p in (modelpack_home / "ingest").iterdir()] == []
    again = json.loads(modelpack("store", "check", "--json").out)
    assert again["ok"] and again["writable"] == [], again
