"""`modelpack init` on an XGBoost model records its booster (architecture), objective, features, classes
and the XGBoost version, the same from a `.ubj`, a `.bst` (UBJSON too) and a `.json` saved by real
XGBoost; a hostile `.ubj` (lengths and counts past its end, deep nesting, truncation) is one error line
(exit 2), read within a memory limit far below what its declared sizes would take."""

from __future__ import annotations

import resource
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import xgboost
import yaml
from sklearn.datasets import load_iris

from helpers import modelpack
from test_serve_trust import assert_one_line

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
MEMORY_LIMIT = 1 << 30  # address space for the hostile runs: a 2**40-byte read would fail here


def _init(folder: Path) -> dict[str, Any]:
    run = modelpack("init", "--print", str(folder))
    assert run.code == 0, run.err
    return yaml.safe_load(run.out)


def _saved(root: Path, model: Any, file_name: str) -> Path:
    root.mkdir()
    model.save_model(root / file_name)
    return root


@pytest.mark.filterwarnings("ignore:.*Saving model in the UBJSON format")  # .bst: XGBoost says which it wrote
@pytest.mark.parametrize("suffix", ["ubj", "json", "bst"])
def test_a_classifier_saved_by_xgboost_says_its_booster_objective_and_shape(tmp_path: Path, suffix: str) -> None:
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(IRIS_X, IRIS_Y)
    meta = _init(_saved(tmp_path / "iris", model, f"model.{suffix}"))
    assert (meta["framework"], meta["format"], meta["architecture"]) == ("xgboost", suffix, "gbtree")
    assert meta["labels"] == {"xgboost.objective": "multi:softprob", "xgboost.numFeature": "4",
                              "xgboost.numClass": "3", "xgboost.estimatorType": "classifier",
                              "xgboost.version": xgboost.__version__.split("+")[0].split("rc")[0]}


@pytest.mark.parametrize("booster", ["gblinear", "dart"])
def test_ubj_and_json_agree_for_other_boosters_and_a_plain_booster(tmp_path: Path, booster: str) -> None:
    regressor = xgboost.XGBRegressor(n_estimators=3, booster=booster).fit(IRIS_X, IRIS_Y)
    ubj = _init(_saved(tmp_path / "a", regressor, "model.ubj"))
    assert ubj == {**_init(_saved(tmp_path / "b", regressor, "model.json")), "name": "a", "format": "ubj"}
    assert ubj["architecture"] == booster and ubj["labels"]["xgboost.objective"] == "reg:squarederror"
    plain = xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(IRIS_X, label=IRIS_Y == 1), 3)
    labels = _init(_saved(tmp_path / "c", plain, "model.ubj"))["labels"]
    assert labels["xgboost.objective"] == "binary:logistic"
    assert "xgboost.numClass" not in labels and "xgboost.estimatorType" not in labels  # none: not a guess


def test_a_bst_in_xgboost_s_old_binary_format_keeps_framework_and_format_with_a_note(tmp_path: Path) -> None:
    """XGBoost before 2.1 wrote a `.bst` as its binary parameters, then the objective's and booster's names
    (XGBoost 3 can no longer write one: these bytes follow that layout by hand)."""
    folder = tmp_path / "old"
    folder.mkdir()
    params = struct.pack("<fIiiiII", 0.5, 4, 3, 0, 0, 1, 7) + bytes(4 * 27)
    names = b"".join(struct.pack("<Q", len(n)) + n for n in (b"multi:softprob", b"gbtree"))
    (folder / "model.bst").write_bytes(b"binf" + params + names)
    run = modelpack("init", "--print", str(folder))
    assert run.code == 0, run.err
    meta = yaml.safe_load(run.out)
    assert (meta["framework"], meta["format"]) == ("xgboost", "bst") and "architecture" not in meta
    assert "model.bst: XGBoost's old binary format (before 2.1), not read" in run.err


def _int(value: int) -> bytes:
    return b"L" + struct.pack(">q", value)


def _key(text: bytes) -> bytes:
    return _int(len(text)) + text


def _string(text: bytes) -> bytes:
    return b"S" + _key(text)


def _ubj(value: Any) -> bytes:
    """A minimal UBJSON writer (objects, strings, int arrays), for well-formed files XGBoost would not write."""
    if isinstance(value, dict):
        return b"{" + b"".join(_key(k.encode()) + _ubj(v) for k, v in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b"".join(_int(v) for v in value) + b"]"
    return _string(value if isinstance(value, bytes) else value.encode())


def test_values_that_are_not_printable_text_are_left_out(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "model.ubj").write_bytes(_ubj({"learner": {
        "attributes": {"scikit_learn": "not json"}, "gradient_booster": {"name": "gbtree", "model": {"trees": []}},
        "learner_model_param": {"num_class": "3\n", "num_feature": "-4"},
        "objective": {"name": "multi:\x1b[31mred"}}, "version": [1, 2, -3]}))
    meta = _init(folder)
    assert meta["architecture"] == "gbtree" and "labels" not in meta


HUGE = 1 << 40
HOSTILE = {
    "a string longer than the file": b"{" + _key(b"learner") + b"S" + _int(HUGE) + b"x" * 16,
    "a kept string longer than the file": b"{" + _key(b"version") + b"S" + _int(HUGE) + b"x" * 16,
    "a key longer than the file": b"{" + _int(HUGE) + b"learner",
    "a float vector longer than the file": b"{" + _key(b"learner") + b"{" + _key(b"gradient_booster") + b"{"
    + _key(b"model") + b"[$d#" + _int(HUGE) + b"\0" * 64,
    "2**62 nulls (no bytes each)": b"[$Z#" + _int(1 << 62),
    "more items than bytes": b"[#" + _int(HUGE) + b"Z" * 64,
    "a negative length": b"{" + b"i\xff" + b"learner",
    "deep nesting": b"[" * 100_000,
    "an unknown type": b"{" + _key(b"learner") + b"Q",
    "a key that is not UTF-8": b"{" + _key(b"learner") + b"{" + _key(b"\xff\xfe") + b"Z}}",
    "5 million no-ops": b"N" * 5_000_001 + b"Z",
}


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize("name", [*HOSTILE, "truncated"])
def test_a_hostile_ubj_is_one_error_line_within_bounded_memory(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    if name == "truncated":
        xgboost.XGBClassifier(n_estimators=3).fit(IRIS_X, IRIS_Y).save_model(folder / "model.ubj")
        data = (folder / "model.ubj").read_bytes()
        (folder / "model.ubj").write_bytes(data[:len(data) // 2])
    else:
        (folder / "model.ubj").write_bytes(HOSTILE[name])
    run = subprocess.run([sys.executable, "-m", "modelpack", "init", str(folder)], capture_output=True, text=True,
                         timeout=120, preexec_fn=_limited)
    assert_one_line(run.stderr, 2, run.returncode, "model.ubj", "not a UBJSON model")
    assert not (folder / "modelpack.yaml").exists()


def test_a_json_model_over_the_cap_keeps_framework_and_format_with_a_note(tmp_path: Path) -> None:
    folder = _saved(tmp_path / "big", xgboost.XGBRegressor(n_estimators=2).fit(IRIS_X, IRIS_Y), "model.json")
    with (folder / "model.json").open("ab") as f:
        f.write(b" " * (16 * 1024 * 1024))  # still the same JSON document, now over 16 MiB
    run = modelpack("init", "--print", str(folder))
    assert run.code == 0, run.err
    meta = yaml.safe_load(run.out)
    assert (meta["framework"], meta["format"]) == ("xgboost", "json") and "architecture" not in meta
    assert "model.json:" in run.err and "over the 16 MiB read: objective not recorded" in run.err
