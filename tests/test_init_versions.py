"""The software versions a model's files state (EU AI Act Annex IV 1(c)) are recorded by `init` as labels
(model-spec's config has no field for them), without loading anything, and `report` and `inspect` show
them; against the real registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack
from modelpack.metadata.load import load_metadata
from modelpack.metadata.software import software_versions
from registry_process import Registry


def _skops_model(folder: Path) -> tuple[str, str]:
    """A real skops file of a fitted scikit-learn estimator; (scikit-learn's version, skops')."""
    skops_io = pytest.importorskip("skops.io")
    sklearn = pytest.importorskip("sklearn")
    import skops
    from sklearn.linear_model import LogisticRegression

    folder.mkdir()
    skops_io.dump(LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]), folder / "model.skops")
    return sklearn.__version__, skops.__version__


def test_init_records_the_versions_a_skops_file_was_saved_with(registry: Registry, tmp_path: Path) -> None:
    sklearn_version, skops_version = _skops_model(tmp_path / "clf")
    assert modelpack("init", str(tmp_path / "clf")).code == 0
    meta = load_metadata(tmp_path / "clf", use_git=False)
    assert meta.labels == {"scikit-learn.version": sklearn_version, "skops.version": skops_version}
    ref = registry.repo("versions") + ":1.0"
    assert modelpack("push", "--plain-http", str(tmp_path / "clf"), ref).code == 0
    wanted = f"scikit-learn {sklearn_version}, skops {skops_version}"
    shown = modelpack("inspect", "--remote", "--plain-http", ref)
    assert shown.code == 0, shown.err
    assert f"  software:        {wanted}\n" in shown.out
    for fmt, start, end in (("md", "## Identity", "## Description"), ("html", 'id="identity"', 'id="description"')):
        made = modelpack("report", "--plain-http", "--format", fmt, ref)
        assert made.code == 0, made.err
        section = made.out.split(start, 1)[1].split(end, 1)[0]
        assert "Software versions" in section and f"scikit-learn {sklearn_version}" in section


def test_init_records_the_onnx_exporter_and_its_version(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, producer_name="pytorch", producer_version="2.1.0")
    (tmp_path / "m").mkdir()
    onnx.save(model, str(tmp_path / "m" / "model.onnx"))
    assert modelpack("init", str(tmp_path / "m")).code == 0
    labels = load_metadata(tmp_path / "m", use_git=False).labels
    assert labels["onnx.producer"] == "pytorch 2.1.0"
    assert software_versions(labels) == ["pytorch 2.1.0 (ONNX exporter)"]


def test_a_report_without_versions_says_they_are_not_recorded(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.bin").write_bytes(b"w" * 10)
    ref = registry.repo("noversions") + ":1.0"
    assert modelpack("push", "--plain-http", str(tmp_path / "m"), ref).code == 0
    made = modelpack("report", "--plain-http", "--format", "md", ref)
    assert made.code == 0, made.err
    assert "| Software versions | not recorded " in made.out


def test_software_versions_read_only_text_labels() -> None:
    assert software_versions({"xgboost.version": "2.1.0", "stage": "prod", ".version": "x", "a.version": ""}) \
        == ["xgboost 2.1.0"]
    assert software_versions(["not", "a", "mapping"]) == []


def test_init_records_the_versions_a_safetensors_header_states(tmp_path: Path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    numpy = pytest.importorskip("numpy")
    (tmp_path / "m").mkdir()
    # __metadata__ is free text its writer chose: only NAME_version keys with short text are versions.
    safetensors_numpy.save_file({"w": numpy.zeros((2, 2), dtype=numpy.float32)}, str(tmp_path / "m" / "w.safetensors"),
                                metadata={"format": "pt", "mlx_version": "0.21.1", "notes": "x" * 500,
                                          "huge_version": "y" * 500})
    assert modelpack("init", str(tmp_path / "m")).code == 0
    assert load_metadata(tmp_path / "m", use_git=False).labels == {"mlx.version": "0.21.1"}


def test_init_records_the_scikit_learn_version_a_pickle_or_joblib_file_states(tmp_path: Path) -> None:
    """Read from the estimator's pickled state (`_sklearn_version`, after its arrays), nothing unpickled;
    a compressed joblib file is not read for it (its class still is)."""
    joblib = pytest.importorskip("joblib")
    sklearn = pytest.importorskip("sklearn")
    import pickle

    from sklearn.linear_model import LogisticRegression

    estimator = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    saves = {"model.pkl": lambda path: path.write_bytes(pickle.dumps(estimator)),
             "model.joblib": lambda path: joblib.dump(estimator, path),
             "small.joblib": lambda path: joblib.dump(estimator, path, compress=3)}
    for name, save in saves.items():
        folder = tmp_path / name.replace(".", "-")
        folder.mkdir()
        save(folder / name)
        run = modelpack("init", str(folder))
        assert run.code == 0, run.err
        meta = load_metadata(folder, use_git=False)
        assert (meta.framework, meta.architecture) == ("scikit-learn", "LogisticRegression")
        assert meta.labels == ({} if name == "small.joblib" else {"scikit-learn.version": sklearn.__version__})
