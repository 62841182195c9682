"""Same directory and metadata, same digest: with SOURCE_DATE_EPOCH set, packing is reproducible."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import modelpack as mp
from helpers import make_tricky_model, modelpack


def test_same_directory_twice_gives_the_same_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    model = make_tricky_model(tmp_path / "model")
    (model / "modelpack.yaml").write_text("name: tricky\nfiles:\n  archives: [weights/nested]\n")
    first = modelpack("pack", str(model), "-t", "example.com/r/m:1")
    second = modelpack("pack", str(model), "-t", "example.com/r/m:2")
    assert first.code == 0 and second.code == 0, first.err + second.err
    assert first.out == second.out

    # A copy made later (new mtimes, as a fresh git clone has) still gives the same digest.
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    for path in copy.rglob("*"):
        os.utime(path, (1800000000, 1800000000))
    third = modelpack("pack", str(copy), "-t", "example.com/r/m:3")
    assert third.out == first.out


def test_a_changed_byte_or_metadata_changes_the_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    model = make_tricky_model(tmp_path / "model")
    base = mp.describe(model).descriptor.digest
    assert mp.describe(model, ["metrics.accuracy=0.51"]).descriptor.digest != base
    (model / "README.md").write_text("# tricky!\n")
    assert mp.describe(model).descriptor.digest != base


def test_created_comes_from_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    model = make_tricky_model(tmp_path / "model")
    packed = mp.describe(model)
    assert packed.manifest.annotations is not None
    assert packed.manifest.annotations["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert b'"createdAt":"2023-11-14T22:13:20Z"' in packed.config_bytes
