"""A model file rewritten while it is packed into the local store (`pack`) or an OCI layout (`push DIR
oci:OUT`): it is hashed first, then copied into place, and the copy's digest no longer matches. That is
said as a push to a registry says it (tests/test_push_hashing_upload_hostile.py): one line naming the file
and what to do, exit 6, nothing tagged and no blob left half-written. It said `digest mismatch: expected
sha256:..., got sha256:...`, naming no file.

The rewrite is made where the copy into place begins (LayoutStore.push_blob, which both targets use), after
the file was hashed: a real store and a real layout, no race to win."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from modelpack.errors import IntegrityError
from modelpack.oci.reference import Reference
from modelpack.store.layout import LayoutStore

SIZE = 3 << 20
TAIL = 4096


def _change(path: Path, change: str) -> None:
    with path.open("r+b") as f:
        if change == "shrinks":
            f.truncate(SIZE - TAIL)
            return
        f.seek(SIZE - TAIL if change == "same-size" else SIZE)
        f.write(os.urandom(TAIL))


@pytest.mark.parametrize("change", ["same-size", "grows", "shrinks"])
@pytest.mark.parametrize("target", ["store", "oci"])
def test_a_file_changed_while_it_is_packed_locally_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            target: str, change: str) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    weights = folder / "w.bin"
    weights.write_bytes(os.urandom(SIZE))
    (folder / "notes.txt").write_text("hello\n")
    copied = LayoutStore.push_blob

    def rewritten_first(self: LayoutStore, desc: Any, *args: Any, **kwargs: Any) -> None:
        if desc.size == SIZE:
            _change(weights, change)
        copied(self, desc, *args, **kwargs)

    monkeypatch.setattr(LayoutStore, "push_blob", rewritten_first)
    layout = tmp_path / "layout"
    with pytest.raises(IntegrityError) as caught:
        if target == "oci":
            mp.push(folder, f"oci:{layout}:1")
        else:
            mp.pack(folder, "torn:1")
    assert str(caught.value) == "w.bin changed while it was being packed; run again once nothing writes to it"
    assert caught.value.exit_code == 6
    if target == "oci":  # nothing tagged, no blob of the file's
        index = layout / "index.json"
        assert not index.exists() or json.loads(index.read_text()).get("manifests") == []
        sizes = [p.stat().st_size for p in (layout / "blobs").rglob("*") if p.is_file()]
    else:
        home = Path(os.environ["MODELPACK_HOME"])
        assert LayoutStore(home).find(Reference.parse("torn:1")) is None
        sizes = [p.stat().st_size for p in home.rglob("*") if p.is_file() and "hash-cache" not in p.parts]
    assert all(size < SIZE - TAIL for size in sizes), sizes  # nothing of the file kept, whole or torn
