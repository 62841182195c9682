"""`pull -o DIR --force` merges into DIR after checking every target; the check made each file's folders as it
went, so a refusal found at a later file left the earlier files' new, empty folders in DIR (and a folder made
through a link of DIR's before the link was found to lead outside). Everything is checked before any folder
is made: a refused merge leaves DIR as it was, and nothing outside it."""

from __future__ import annotations

import os
from pathlib import Path

import modelpack as mp
from helpers import modelpack
from registry_process import Registry
from test_data_safety import PLAIN, _model


def _tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_a_refused_merge_leaves_no_folder_it_made(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"new/sub/a.bin": b"new a", "z.bin": b"new z"})
    ref = registry.repo() + ":1"
    mp.push(model, ref, options=PLAIN)
    out = _model(tmp_path / "out", {"z.bin/inside": b"a folder where a file goes"})
    before = _tree(out)
    result = modelpack("pull", "--plain-http", ref, "-o", str(out), "--force")
    assert result.code == 2 and "z.bin" in result.err, result.err
    assert _tree(out) == before


def test_a_merge_through_a_link_leading_outside_makes_no_folder_there(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"link/sub/a.bin": b"new a"})
    ref = registry.repo() + ":1"
    mp.push(model, ref, options=PLAIN)
    outside = tmp_path / "outside"
    outside.mkdir()
    out = _model(tmp_path / "out", {"mine.txt": b"keep"})
    os.symlink(outside, out / "link")
    result = modelpack("pull", "--plain-http", ref, "-o", str(out), "--force")
    assert result.code == 6 and "outside the output directory" in result.err, result.err
    assert list(outside.iterdir()) == []
    assert _tree(out) == ["link", "mine.txt"]
