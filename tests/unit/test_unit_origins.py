"""origins.json keeps at most MAX_BLOBS blobs, dropping the least recently recorded first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelpack.oci.descriptor import Descriptor
from modelpack.store import origins


def blob(n: int) -> Descriptor:
    return Descriptor(mediaType="application/octet-stream", digest=f"sha256:{n:064x}", size=1)


def test_the_least_recently_recorded_blobs_go_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(origins, "MAX_BLOBS", 3)
    path = tmp_path / "origins.json"
    origins.record(path, "reg/a", [blob(1), blob(2), blob(3)])
    origins.record(path, "reg/b", [blob(1)])  # recorded again: now the newest
    origins.record(path, "reg/a", [blob(4)])
    kept = origins.read(path)
    assert list(kept) == [blob(3).digest, blob(1).digest, blob(4).digest]
    assert kept[blob(1).digest] == ["reg/b", "reg/a"]
    assert json.loads(path.read_bytes()) == kept


def test_a_damaged_entry_is_replaced_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "origins.json"
    path.write_text(json.dumps({blob(1).digest: "not a list"}))
    origins.record(path, "reg/a", [blob(1)])
    assert origins.read(path) == {blob(1).digest: ["reg/a"]}
