"""`modelpack init` on XGBoost's own model files (.ubj, .bst, and a .json only when XGBoost wrote a model
into it), told apart exactly as `serve` tells them, with nothing loaded."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import xgboost
from sklearn.datasets import load_iris

from helpers import modelpack
from inspection_files import FakeForestClassifier
from modelpack.errors import UsageError
from modelpack.metadata.load import load_metadata
from modelpack.serve.model_file import choose

IRIS_X, IRIS_Y = load_iris(return_X_y=True)


def xgboost_folder(root: Path, file_name: str) -> Path:
    """A folder holding a small classifier saved by XGBoost itself as `file_name`."""
    root.mkdir()
    xgboost.XGBClassifier(n_estimators=4, max_depth=2).fit(IRIS_X, IRIS_Y).save_model(root / file_name)
    return root


@pytest.mark.filterwarnings("ignore:.*Saving model in the UBJSON format")  # .bst: XGBoost says which it wrote
@pytest.mark.parametrize("file_name", ["model.ubj", "model.json", "model.bst"])
def test_init_says_xgboost_and_the_format_of_a_model_xgboost_wrote(tmp_path: Path, file_name: str) -> None:
    folder = xgboost_folder(tmp_path / "iris-xgb", file_name)
    before = (folder / file_name).read_bytes()
    result = modelpack("init", str(folder))
    assert result.code == 0, result.err
    meta = load_metadata(folder, use_git=False)  # the loader pack uses
    assert (meta.name, meta.framework, meta.format) == ("iris-xgb", "xgboost", file_name.rsplit(".", 1)[1])
    assert (folder / "modelpack.yaml").read_text().startswith(f"# Written by `modelpack init` from {file_name}.")
    assert (folder / file_name).read_bytes() == before
    assert choose(folder) == (folder / file_name).resolve()  # serve agrees: this is the file it would load


def test_a_json_xgboost_did_not_write_stays_unrecognised_by_init_and_serve(tmp_path: Path) -> None:
    folder = tmp_path / "not-xgb"
    folder.mkdir()
    # JSON about a learner, but not as XGBoost writes a model (its keys are not XGBoost's, first or at all)
    (folder / "model.json").write_text(json.dumps({"learner": {"objective": "multi:softprob"}, "trees": []}))
    (folder / "labels.json").write_text(json.dumps(["setosa", "versicolor", "virginica"]))
    result = modelpack("init", "--print", str(folder))
    assert result.code == 0, result.err
    assert result.out.startswith("# Written by `modelpack init` from no recognised file.")
    assert "framework" not in result.out and "format" not in result.out
    with pytest.raises(UsageError, match="no model file modelpack can serve"):
        choose(folder)


def test_xgboost_model_wins_over_a_pickle_beside_it_which_is_not_unpickled(tmp_path: Path) -> None:
    folder = xgboost_folder(tmp_path / "both", "model.ubj")
    marker = tmp_path / "unpickled.txt"
    (folder / "old.pkl").write_bytes(pickle.dumps(FakeForestClassifier(str(marker)), protocol=5))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# Iris\n")
    result = modelpack("init", str(folder))
    assert result.code == 0, result.err
    meta = load_metadata(folder, use_git=False)
    assert (meta.framework, meta.format) == ("xgboost", "ubj")  # as serve prefers it to the pickle
    # the pickle's class describes the pickle, not the model: the architecture is the XGBoost model's booster
    assert meta.architecture == "gbtree" and "FakeForestClassifier" not in (folder / "modelpack.yaml").read_text()
    assert meta.licenses == ["Apache-2.0"]  # the model card still merges
    assert "note: old.pkl: not described (the model file is model.ubj)" in result.err
    assert "from README.md, model.ubj." in (folder / "modelpack.yaml").read_text()
    assert not marker.exists()
    assert choose(folder) == (folder / "model.ubj").resolve()


def test_config_json_still_names_the_architecture_beside_the_winning_model_file(tmp_path: Path) -> None:
    folder = xgboost_folder(tmp_path / "with-config", "model.json")
    (folder / "config.json").write_text(json.dumps({"architectures": ["IrisBoost"], "model_type": "iris"}))
    (folder / "stray.joblib").write_bytes(pickle.dumps(FakeForestClassifier(str(tmp_path / "m")), protocol=5))
    result = modelpack("init", "--print", str(folder))
    assert result.code == 0, result.err
    assert "architecture: IrisBoost\n" in result.out and "family: iris\n" in result.out
    assert "framework: xgboost\n" in result.out and "format: json\n" in result.out
    assert "FakeForestClassifier" not in result.out and "stray.joblib" not in result.out.splitlines()[0]
    assert not (tmp_path / "m").exists()
