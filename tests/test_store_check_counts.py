"""`store check`'s counts agree between its two outputs: `blobs` and `bytes` are every blob file hashed,
sound or corrupt. With a corrupt blob, the text said `checked 4 blobs (200.0 MiB)` (four blobs, the bytes
of three) while `--json` said `"blobs": 3`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import modelpack


def test_text_and_json_count_the_same_blobs(tmp_path: Path, modelpack_home: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "a.bin").write_bytes(os.urandom(300_000))
    (model / "b.bin").write_bytes(os.urandom(200_000))
    assert modelpack("pack", str(model), "-t", "local/m:1").code == 0
    blobs = sorted((modelpack_home / "blobs" / "sha256").iterdir())
    total = sum(p.stat().st_size for p in blobs)
    victim = next(p for p in blobs if p.stat().st_size == 200_000)
    victim.chmod(0o644)
    with open(victim, "r+b") as f:
        f.write(b"X")
    victim.chmod(0o444)
    as_json = modelpack("store", "check", "--json")
    assert as_json.code == 6
    report = json.loads(as_json.out)
    assert report["blobs"] == len(blobs) and report["bytes"] == total
    assert report["corrupt"] == [f"sha256:{victim.name}"]
    text = modelpack("store", "check")
    assert text.code == 6
    assert text.out.splitlines()[0] == f"checked {len(blobs)} blobs ({total / 1024:.1f} KiB)"
