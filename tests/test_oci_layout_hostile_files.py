"""An `oci:DIR` layout is often downloaded, so its files are read as hostile: index.json is read no further than
its cap (large enough for ~115,000 tags), and a FIFO or device planted as index.json or a blob is refused in
one line (exit 6) instead of hanging the command (a FIFO layer hung `pull` past SIGTERM) or reading forever
(index.json -> /dev/zero ended in MemoryError, "internal error"). Each command runs in a child process with its
address space capped, so a regression fails the test instead of exhausting the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import modelpack
from modelpack.errors import UsageError
from modelpack.oci import mediatypes as mt
from modelpack.store import oci_layout
from modelpack.store.layout_index_view import MAX_LAYOUT_INDEX_BYTES
from modelpack.store.oci_layout import OciLayout


def _layout(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """A layout of one model tagged 1.0 (written by modelpack); returns it and its manifest's entry."""
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(50_000))
    (model / "config.json").write_text('{"hidden": 4}')
    layout = tmp_path / "L"
    run = modelpack("push", str(model), f"oci:{layout}:1.0")
    assert run.code == 0, run.err
    entry = json.loads((layout / "index.json").read_bytes())["manifests"][0]
    return layout, entry


def _blob(layout: Path, kind: str) -> Path:
    """The file of the layout's manifest ("manifest") or of its weight layer ("layer")."""
    entry = json.loads((layout / "index.json").read_bytes())["manifests"][0]
    manifest = layout / "blobs" / "sha256" / entry["digest"].split(":")[1]
    if kind == "manifest":
        return manifest
    layer = next(x for x in json.loads(manifest.read_bytes())["layers"] if x["size"] == 50_000)
    return layout / "blobs" / "sha256" / layer["digest"].split(":")[1]


def _capped(*args: str) -> subprocess.CompletedProcess[str]:
    """`modelpack ARGS` in a child limited to 1 GiB of address space and 60 s (killed past it)."""
    code = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
            f"sys.argv = ['modelpack', *{list(args)!r}]; runpy.run_module('modelpack')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def _one_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code and len(lines) == 1, result.stderr[-1500:]
    assert "Traceback" not in result.stderr and all(w in lines[0] for w in words), lines


def test_an_index_json_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    layout, _ = _layout(tmp_path)
    index = layout / "index.json"
    index.unlink()
    with open(index, "wb") as f:
        f.truncate(3 << 30)  # sparse: 3 GiB that take no disk
    result = _capped("inspect", f"oci:{layout}:1.0")
    _one_line(result, 6, str(index), f"over the {MAX_LAYOUT_INDEX_BYTES} byte limit")


def test_a_layout_of_twenty_thousand_tags_is_read(tmp_path: Path) -> None:
    # 5.6 MB of index.json: over one manifest's 4 MiB cap, which refused it before.
    layout, entry = _layout(tmp_path)
    entries = [{**entry, "annotations": {mt.A_REF_NAME: f"v1.{n // 1000}.{n % 1000}"}} for n in range(20_000)]
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                                   "manifests": entries}))
    assert (layout / "index.json").stat().st_size > 4 << 20
    run = modelpack("resolve", f"oci:{layout}:v1.19.999")
    assert run.code == 0 and entry["digest"] in run.out, run.err


@pytest.mark.parametrize("planted", ["fifo", "/dev/zero"])
def test_an_index_json_that_is_no_file_is_refused(tmp_path: Path, planted: str) -> None:
    layout, _ = _layout(tmp_path)
    index = layout / "index.json"
    index.unlink()
    os.mkfifo(index) if planted == "fifo" else index.symlink_to(planted)
    _one_line(_capped("inspect", f"oci:{layout}:1.0"), 6, str(index), "not a regular file")


@pytest.mark.parametrize("kind", ["manifest", "layer"])
@pytest.mark.parametrize("planted", ["fifo", "/dev/zero"])
def test_a_blob_that_is_no_file_is_refused(tmp_path: Path, kind: str, planted: str) -> None:
    layout, _ = _layout(tmp_path)
    blob = _blob(layout, kind)
    blob.unlink()
    os.mkfifo(blob) if planted == "fifo" else blob.symlink_to(planted)
    for args in (["pull", f"oci:{layout}:1.0", "-o", str(tmp_path / "out")],
                 ["copy", f"oci:{layout}:1.0", f"oci:{tmp_path / 'copy'}:1.0"]):
        _one_line(_capped(*args), 6, str(blob), "not a regular file")
    assert not (tmp_path / "out").exists()


def test_an_index_json_too_large_to_read_back_is_not_written(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    layout, _ = _layout(tmp_path)
    before = (layout / "index.json").read_bytes()
    monkeypatch.setattr(oci_layout, "MAX_LAYOUT_INDEX_BYTES", len(before) + 10)
    target = OciLayout(layout)
    desc, data = target.fetch_manifest("1.0")
    with pytest.raises(UsageError, match=r"would be \d+ bytes, over the \d+ byte limit"):
        target.push_manifest(desc, data, tag="2.0")
    assert (layout / "index.json").read_bytes() == before
