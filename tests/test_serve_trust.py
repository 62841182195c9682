"""What `serve` agrees to load: no pickle from a registry unless its signature verified (or the user opted
in loudly), .skops files only with allow-listed types, safe formats before pickles, no guessing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import modelpack as mp
from helpers import modelpack
from modelpack.errors import UsageError
from modelpack.store.options import ClientOptions
from registry_process import Registry
from serving import call

PLAIN = ClientOptions(plain_http=True)
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


class Hostile:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def iris() -> LogisticRegression:
    features, labels = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(features, labels)


def model_dir(root: Path, name: str, files: dict[str, Any]) -> Path:
    folder = root / name
    folder.mkdir()
    for file_name, content in files.items():
        if isinstance(content, bytes):
            (folder / file_name).write_bytes(content)
        elif file_name.endswith(".skops"):
            sio.dump(content, folder / file_name)
        else:
            joblib.dump(content, folder / file_name)
    return folder


def infer(base: str, name: str = "model") -> tuple[int, dict[str, Any]]:
    return call(f"{base}/v2/models/{name}/infer", {"inputs": [
        {"name": "x", "shape": [2, 4], "datatype": "FP64", "data": np.array(ROWS).reshape(-1).tolist()}]})


def keypair(tmp_path: Path, name: str) -> tuple[Path, Path]:
    folder = tmp_path / name
    result = modelpack("generate-key-pair", "-d", str(folder), env={"COSIGN_PASSWORD": "pw"})
    assert result.code == 0, result.err
    return folder / "cosign.key", folder / "cosign.pub"


def sign(ref: str, key: Path) -> None:
    result = modelpack("sign", "--plain-http", "--key", str(key), ref, env={"COSIGN_PASSWORD": "pw"})
    assert result.code == 0, result.err


def assert_one_line(err: str, code: int, result_code: int, *fragments: str) -> None:
    assert result_code == code, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


# Item 9: a pickle from a registry runs code; it is loaded only when its signature verified.

def test_hostile_pickle_from_a_registry_is_refused(registry: Registry, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    ref = registry.repo() + ":1"
    mp.push(model_dir(tmp_path, "evil", {"model.joblib": Hostile(marker)}), ref, options=PLAIN)
    result = modelpack("serve", "--plain-http", "--port", "0", ref, timeout=60)
    assert_one_line(result.err, 2, result.code, "model.joblib", "--verify-key", "--trust-unverified-pickle")
    assert not marker.exists()
    # Decided from the manifest: nothing was downloaded into the local store first.
    assert "nothing was downloaded" in result.err
    assert json.loads(modelpack("list", "--json").out) == []


def test_hostile_pickle_signed_by_another_key_is_refused(registry: Registry, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    ref = registry.repo() + ":1"
    mp.push(model_dir(tmp_path, "evil", {"model.joblib": Hostile(marker)}), ref, options=PLAIN)
    attacker, _ = keypair(tmp_path, "attacker")
    _, ours = keypair(tmp_path, "ours")
    sign(ref, attacker)
    result = modelpack("serve", "--plain-http", "--port", "0", "--verify-key", str(ours), ref, timeout=60)
    assert result.code == 7, result.err
    assert not marker.exists()


def test_signed_pickle_is_served_with_verify_key(registry: Registry, serving: Any, tmp_path: Path) -> None:
    model = iris()
    ref = registry.repo() + ":1"
    mp.push(model_dir(tmp_path, "iris", {"model.joblib": model}), ref, options=PLAIN)
    private, public = keypair(tmp_path, "keys")
    sign(ref, private)
    base = serving(ref, name="model", verify_key=public, options=PLAIN)
    status, result = infer(base)
    assert status == 200 and result["outputs"][0]["data"] == model.predict(np.array(ROWS)).tolist()


def test_unverified_pickle_loads_only_with_the_loud_opt_in(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":1"
    mp.push(model_dir(tmp_path, "iris", {"model.joblib": iris()}), ref, options=PLAIN)
    with pytest.raises(UsageError, match="trust_unverified_pickle=True"):  # a Python caller's words
        mp.serve_model(ref, port=0, options=PLAIN)
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", "--plain-http", "--port", "0",
                             "--trust-unverified-pickle", ref], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("serving on") or len(lines) > 20:
                break
        assert lines[-1].startswith("serving on"), lines
        assert any(line.startswith("warning:") and "model.joblib" in line and "unverified" in line
                   for line in lines), lines
    finally:
        proc.kill()
        proc.wait()


def test_a_local_directory_is_the_users_choice(serving: Any, tmp_path: Path) -> None:
    model = iris()
    base = serving(model_dir(tmp_path, "iris", {"model.joblib": model}), name="model")
    assert infer(base)[0] == 200


# Item 10: .skops files: only allow-listed types are trusted.

def hostile_skops(path: Path, marker: Path) -> Path:
    """A .skops file whose loading calls os.system(...) if `os.system` is trusted."""
    argument = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
                "content": json.dumps(f"touch {marker}"), "is_json": True, "__id__": 2}
    schema = {"__class__": "system", "__module__": "os", "__loader__": "ConstructorFromReduceNode",
              "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                          "content": [argument], "__id__": 3},
              "__id__": 1, "protocol": 2, "_skops_version": "0.16.0"}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    return path


def test_skops_file_naming_os_system_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = tmp_path / "evil"
    folder.mkdir()
    hostile_skops(folder / "model.skops", marker)
    result = modelpack("serve", "--port", "0", str(folder), timeout=60)
    assert_one_line(result.err, 2, result.code, "os.system", "model.skops")
    assert not marker.exists()


def test_skops_allow_list_admits_scikit_learn_and_refuses_helpers_that_run_code(tmp_path: Path) -> None:
    from modelpack.serve.skops_trust import admitted

    assert admitted("sklearn.tree._tree.Tree")
    assert admitted("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")
    assert admitted("numpy.ndarray") and admitted("scipy.sparse._csr.csr_matrix")
    for name in ("os.system", "builtins.eval", "sklearn.utils._testing.assert_run_python_script_without_output",
                 "sklearn.utils.validation.check_array", "numpy.memmap", "numpy.load", "numpy.testing.Tester",
                 "sklearn.datasets.fetch_openml", "numpy.DataSource", "sklearn..x", "sklearn.nonexistent.Thing",
                 "scipy.io.loadmat", "sklearn.externals._arff.ArffDecoder", "numpy.ctypeslib.load_library"):
        assert not admitted(name), name


def test_legitimate_skops_random_forest_is_served(serving: Any, tmp_path: Path) -> None:
    features, labels = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, labels)
    folder = model_dir(tmp_path, "forest", {"model.skops": forest})
    assert sio.get_untrusted_types(file=folder / "model.skops")  # it names a type skops does not trust itself
    status, result = infer(serving(folder, name="model"))
    assert status == 200 and result["outputs"][0]["data"] == forest.predict(np.array(ROWS)).tolist()


# Item 11: safe formats first, no guessing.

def onnx_bytes() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id",
                              [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(onnx.ModelProto.SerializeToString(model))


def test_onnx_is_preferred_to_a_stray_pickle(serving: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = model_dir(tmp_path, "mixed", {"model.onnx": onnx_bytes(), "a.pkl": Hostile(marker)})
    base = serving(folder, name="model")
    assert call(f"{base}/v2/models/model")[1]["platform"] == "onnxruntime_onnx"
    assert not marker.exists()


def test_two_candidates_of_one_kind_are_refused_and_model_file_chooses(serving: Any, tmp_path: Path) -> None:
    model = iris()
    folder = model_dir(tmp_path, "two", {"a.skops": model, "b.skops": model})
    with pytest.raises(UsageError, match=r"a\.skops.*b\.skops.*model_file=PATH"):
        mp.serve_model(folder, port=0)
    base = serving(folder, name="model", model_file="b.skops")
    assert infer(base)[0] == 200
    with pytest.raises(UsageError, match="outside"):
        mp.serve_model(folder, port=0, model_file="../two/../../x.joblib")


def test_framework_that_does_not_match_the_files_is_refused(tmp_path: Path) -> None:
    folder = model_dir(tmp_path, "onnx-claims", {"model.joblib": iris()})
    (folder / "modelpack.yaml").write_text("name: m\nframework: onnx\n")
    with pytest.raises(UsageError, match=r"onnx.*model\.joblib.*model_file=PATH"):
        mp.serve_model(folder, port=0)


# Item 5: without the [serve] extra, one line naming the extra.

@pytest.mark.parametrize(("blocked", "file_name"), [("joblib", "model.joblib"), ("onnxruntime", "model.onnx")])
def test_missing_runtime_names_the_serve_extra(tmp_path: Path, blocked: str, file_name: str) -> None:
    folder = model_dir(tmp_path, "m", {file_name: onnx_bytes() if file_name.endswith(".onnx") else iris()})
    code = (f"import sys; sys.modules[{blocked!r}] = None; sys.argv = ['modelpack', 'serve', '--port', '0', "
            f"{str(folder)!r}]; from modelpack.cli.main import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert_one_line(proc.stderr, 2, proc.returncode, 'pip install "modelpack[serve]"', blocked)


# Other ways an artifact could reach outside itself: ONNX external data naming files elsewhere.

def test_onnx_external_data_outside_the_model_is_refused_in_one_line(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    tensor = helper.make_tensor("W", TensorProto.UINT8, [8], bytes(8), raw=True)
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in {"location": "../../../../../../etc/hostname", "length": "8"}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.ClearField("raw_data")
    graph = helper.make_graph([helper.make_node("Identity", ["W"], ["y"])], "leak", [],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [8])], [tensor])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder = model_dir(tmp_path, "leak", {"model.onnx": onnx.ModelProto.SerializeToString(model)})
    result = modelpack("serve", "--port", "0", str(folder), timeout=60)
    assert_one_line(result.err, 2, result.code, "model.onnx", "External data")
