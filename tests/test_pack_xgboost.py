"""`pack` files an XGBoost model (.ubj, .bst, or a .json XGBoost wrote) as the model's weights, told apart as
`serve` and `init` tell them (`is_xgboost_model`); any other .json keeps the kind its name gives it, and
`serve` still finds the model in what `pull` restores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
import xgboost
from sklearn.datasets import load_iris

import modelpack as mp
from helpers import modelpack
from modelpack.oci import mediatypes as mt
from modelpack.packing.classify import default_kind
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
IRIS_X, IRIS_Y = load_iris(return_X_y=True)
WEIGHT = "application/vnd.cncf.model.weight.v1.raw"  # specs/format.md: a single file of weights
WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"


def model_folder(root: Path, file_name: str) -> tuple[Path, Any]:
    """A folder holding a classifier XGBoost saved as `file_name`, a labels .json and a config.json."""
    folder = root / "iris-xgb"
    folder.mkdir()
    model = xgboost.XGBClassifier(n_estimators=4, max_depth=2).fit(IRIS_X, IRIS_Y)
    model.save_model(folder / file_name)
    (folder / "labels.json").write_text(json.dumps(["setosa", "versicolor", "virginica"]))
    (folder / "learner.json").write_text(json.dumps({"learner": {"attributes": {}}, "note": "spaced, so not"}))
    (folder / "config.json").write_text(json.dumps({"n_features": 4}))
    (folder / "modelpack.yaml").write_text("name: iris-xgb\nversion: '1'\n")
    return folder, model


def layers(ref: str) -> dict[str, tuple[str, bool]]:
    """path -> (media type, annotated as untested) of the model's layers, as the registry holds them."""
    info = mp.inspect(ref, remote_only=True, options=PLAIN)
    manifest = info.manifest
    return {layer.annotation(mt.A_FILEPATH) or "": (layer.media_type,
                                                    layer.annotation(mt.A_MEDIATYPE_UNTESTED) == "true")
            for layer in manifest.layers}  # type: ignore[union-attr]


@pytest.mark.filterwarnings("ignore:.*Saving model in the UBJSON format")  # .bst: XGBoost says which it wrote
@pytest.mark.parametrize("file_name", ["model.json", "model.bst"])
def test_an_xgboost_model_is_a_weight_layer_and_other_json_files_are_not(
        registry: Registry, serving: Any, tmp_path: Path, file_name: str) -> None:
    folder, model = model_folder(tmp_path, file_name)
    ref = registry.repo() + ":1"
    digest = mp.push(folder, ref, options=PLAIN).descriptor.digest
    found = layers(ref)
    assert found[file_name] == (WEIGHT, False)
    assert found["labels.json"] == (WEIGHT_CONFIG, True)  # a guess, as before: not XGBoost's
    assert found["learner.json"] == (WEIGHT_CONFIG, True)  # starts with "learner" but not as XGBoost writes
    assert found["config.json"] == (WEIGHT_CONFIG, False)
    pulled = tmp_path / "pulled"
    mp.pull(ref, output=pulled, options=PLAIN)
    assert mp.pack(pulled, "example.com/again/iris-xgb:1").descriptor.digest == digest  # restored as packed
    rows = IRIS_X[[0, 60, 120]].astype(np.float32)
    tc = triton.InferenceServerClient(serving(pulled).removeprefix("http://"))
    tensor = triton.InferInput("input-0", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    assert tc.infer("iris-xgb", [tensor]).as_numpy("predict").tolist() == model.predict(rows).tolist()


def test_a_files_kinds_rule_still_wins_and_the_cli_agrees(tmp_path: Path) -> None:
    folder, _ = model_folder(tmp_path, "model.json")
    (folder / "modelpack.yaml").write_text("name: iris-xgb\nversion: '1'\nfiles:\n  kinds:\n"
                                           "    /model.json: dataset\n")
    result = modelpack("pack", str(folder), "-t", "localhost:5000/team/iris-xgb:1")
    assert result.code == 0, result.err
    info = mp.inspect("localhost:5000/team/iris-xgb:1")
    kinds = {f.path: f.kind for f in info.files}
    assert kinds["model.json"] == "dataset" and kinds["labels.json"] == "weight.config"


def test_a_json_is_read_only_below_the_root_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = model_folder(tmp_path, "model.json")
    monkeypatch.chdir(folder)  # a bare relative name must not be read from wherever the process runs
    assert default_kind("model.json") == ("weight.config", False)
    assert default_kind("model.json", folder) == ("weight", True)
    assert default_kind("labels.json", folder) == ("weight.config", False)
    assert default_kind("old/model.bst") == ("weight", True)  # XGBoost's by its name alone
    assert default_kind("missing.json", folder) == ("weight.config", False)
