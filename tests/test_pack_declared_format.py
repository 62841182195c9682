"""A `format` in modelpack.yaml that no model file has (a yaml copied from another model): `pack` and
`push DIR` warn once on stderr, naming both, and pack it as declared; a matching format, or one the
files cannot show, is packed without a word. Through the real CLI, a real skops file, the real registry."""

from __future__ import annotations

import json
from pathlib import Path

import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from helpers import modelpack
from registry_process import Registry

ESC = "\x1b"


def skops_folder(root: Path, declared: str, file_name: str = "model.skops") -> Path:
    """A folder holding a classifier saved by skops, and a modelpack.yaml declaring `declared`."""
    root.mkdir()
    x, y = load_iris(return_X_y=True)
    skops.io.dump(LogisticRegression(max_iter=200).fit(x, y), root / file_name)
    (root / "modelpack.yaml").write_text(f"name: iris\nframework: scikit-learn\nformat: {declared}\n")
    return root


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_pack_warns_once_naming_the_declared_format_and_the_file_and_packs_as_declared(tmp_path: Path) -> None:
    folder = skops_folder(tmp_path / "iris", "joblib")
    ref = "localhost:5000/team/iris:1"
    packed = modelpack("pack", str(folder), "-t", ref)
    assert packed.code == 0, packed.err
    [warning] = warnings_in(packed.err)
    assert "format joblib is declared" in warning and "model.skops (skops)" in warning
    assert "modelpack init --print" in warning
    info = json.loads(modelpack("inspect", ref, "--json").out)
    assert info["metadata"]["format"] == "joblib"  # the user may know better: packed as declared


def test_push_dir_warns_too(tmp_path: Path, registry: Registry) -> None:
    folder = skops_folder(tmp_path / "iris", "safetensors")
    pushed = modelpack("push", "--plain-http", str(folder), registry.repo() + ":declared")
    assert pushed.code == 0, pushed.err
    [warning] = warnings_in(pushed.err)
    assert "format safetensors is declared" in warning and "model.skops (skops)" in warning


def test_the_warning_escapes_file_names(tmp_path: Path) -> None:
    folder = skops_folder(tmp_path / "iris", "onnx", file_name=f"m{ESC}[2J.skops")
    packed = modelpack("pack", str(folder), "-t", "localhost:5000/team/iris:esc")
    assert packed.code == 0, packed.err
    assert ESC not in packed.err
    [warning] = warnings_in(packed.err)
    assert "m\\x1b[2J.skops (skops)" in warning


def test_a_matching_format_does_not_warn(tmp_path: Path) -> None:
    folder = skops_folder(tmp_path / "iris", "skops")
    packed = modelpack("pack", str(folder), "-t", "localhost:5000/team/iris:ok")
    assert packed.code == 0, packed.err
    assert warnings_in(packed.err) == []


def test_a_format_the_files_cannot_show_does_not_warn(tmp_path: Path) -> None:
    # pytorch cannot be told from the files: trusted, even beside a pickle (a scaler) we do recognise
    torch = tmp_path / "torch"
    torch.mkdir()
    (torch / "model.pt").write_bytes(b"not read")
    (torch / "scaler.pkl").write_bytes(b"not read either")
    (torch / "modelpack.yaml").write_text("name: t\nformat: pytorch\n")
    # safetensors declared, but no model file recognised at all: nothing to contradict it
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "weights.bin").write_bytes(b"opaque")
    (unknown / "modelpack.yaml").write_text("name: u\nformat: safetensors\n")
    for folder in (torch, unknown):
        packed = modelpack("pack", str(folder), "-t", f"localhost:5000/team/{folder.name}:1")
        assert packed.code == 0, packed.err
        assert warnings_in(packed.err) == [], folder.name
