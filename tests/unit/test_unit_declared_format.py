"""The declared-format check reads no file when a file's name already shows the declared format."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelpack.inspection import init
from modelpack.inspection.declared_format import format_mismatch
from modelpack.packing.select import LayerSource, SourceFile


def _layer(relpath: str) -> LayerSource:
    return LayerSource(relpath, "dataset", True, files=[SourceFile(relpath, Path("/nonexistent") / relpath,
                                                                   0o644, 10, 0)])


def test_a_file_named_as_declared_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Path] = []
    monkeypatch.setattr(init, "is_xgboost_model", lambda path: opened.append(path) or False)
    sources = [_layer(f"data/{i}.json") for i in range(100)] + [_layer("model.skops")]

    assert format_mismatch("skops", sources, "m") is None
    assert opened == []  # no `.json` was read to look for an XGBoost model

    warning = format_mismatch("joblib", sources, "m")  # no file named so: the files are read to tell
    assert warning is not None and "model.skops (skops)" in warning
    assert len(opened) == 101
