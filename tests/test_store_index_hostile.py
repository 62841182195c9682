"""The local store's own index.json, read as an `oci:` layout's is: ours, but on a disk where a user or another
program can put anything. A FIFO there hung every command that reads the store, a symlink to /dev/zero ended it
in MemoryError ("internal error"), a huge file was read whole. Each is refused in one line naming the file and
`store check --repair` (exit 6), which sets it aside; and an index too large to read back is never written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import modelpack
from modelpack.errors import UsageError
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.reference import Reference
from modelpack.store import index_file
from modelpack.store.layout import LayoutStore
from test_local_input import _model
from test_oci_layout_hostile_files import _capped, _one_line


def _plant(index: Path, planted: str) -> None:
    index.unlink(missing_ok=True)
    if planted == "fifo":
        os.mkfifo(index)
    elif planted == "huge":
        with open(index, "wb") as f:
            f.truncate(3 << 30)  # sparse: 3 GiB that take no disk
    else:
        index.symlink_to(planted)


@pytest.mark.parametrize("planted", ["fifo", "/dev/zero", "huge"])
def test_an_index_json_that_is_no_file_or_too_large_is_refused_and_repaired(tmp_path: Path, modelpack_home: Path,
                                                                             planted: str) -> None:
    assert modelpack("pack", str(_model(tmp_path / "m")), "-t", "localhost:5000/t/m:1").code == 0
    index = modelpack_home / "index.json"
    _plant(index, planted)
    why = "over the" if planted == "huge" else "not a regular file"
    for args in (["list"], ["inspect", "localhost:5000/t/m:1"],
                 ["pack", str(_model(tmp_path / "n")), "-t", "localhost:5000/t/n:1"]):
        _one_line(_capped(*args), 6, str(index), why, "modelpack store check --repair")
    checked = _capped("store", "check")
    assert checked.returncode == 6 and "Traceback" not in checked.stderr, checked.stdout + checked.stderr
    repaired = _capped("store", "check", "--repair")
    assert repaired.returncode == 0 and "rebuilt" in repaired.stdout, repaired.stdout + repaired.stderr
    aside = modelpack_home / "index.json.corrupt"
    assert aside.is_symlink() if planted == "/dev/zero" else aside.exists()  # set aside as it was, not read
    assert index.is_file() and not index.is_symlink()
    assert _capped("list").returncode == 0


def test_an_index_json_too_large_to_read_back_is_not_written(tmp_path: Path, modelpack_home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert modelpack("pack", str(_model(tmp_path / "m")), "-t", "localhost:5000/t/m:1").code == 0
    index = modelpack_home / "index.json"
    before = index.read_bytes()
    monkeypatch.setattr(index_file, "MAX_STORE_INDEX_BYTES", len(before) + 10)
    store = LayoutStore(modelpack_home)
    desc: Descriptor = store.entries()[0].descriptor
    with pytest.raises(UsageError, match=r"over the \d+ byte limit for reading it"):
        store.set_reference(Reference.parse("localhost:5000/t/m:2"), desc)
    assert index.read_bytes() == before
