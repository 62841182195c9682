"""What tools leave in a working folder (`__pycache__`, `.ipynb_checkpoints`, `.DS_Store`) was packed
silently, a `.DS_Store` and a `.pyc` as weight layers: `pack` and `push DIR` now name them in one warning
line with the `files.exclude` that leaves them out, and still pack the folder as it is (same digest)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import modelpack
from registry_process import Registry

WARNING = ("warning: packing what tools leave behind as layers: .DS_Store, .ipynb_checkpoints/a-checkpoint.ipynb, "
           "__pycache__/train.cpython-311.pyc (leave them out with files.exclude: [.DS_Store, .ipynb_checkpoints, "
           "__pycache__] in modelpack.yaml)\n")


def _working_folder(root: Path) -> Path:
    root.mkdir()
    (root / "modelpack.yaml").write_text("name: m\n")  # (else named after each reference's repository)
    (root / "model.safetensors").write_bytes(os.urandom(500))
    for path in ("__pycache__/train.cpython-311.pyc", ".ipynb_checkpoints/a-checkpoint.ipynb", ".DS_Store"):
        (root / path).parent.mkdir(exist_ok=True)
        (root / path).write_bytes(b"left behind")
    return root


def test_pack_and_push_name_the_leftovers_they_pack(registry: Registry, tmp_path: Path) -> None:
    folder = _working_folder(tmp_path / "work")
    packed = modelpack("pack", str(folder), "-t", "local/m:1")
    assert packed.code == 0 and packed.err == WARNING, packed.err
    ref = registry.repo() + ":1"
    pushed = modelpack("push", "--plain-http", str(folder), ref)
    assert pushed.code == 0 and pushed.err.startswith(WARNING), pushed.err
    assert pushed.out.strip().endswith(packed.out.strip())  # packed as the folder is: the same digest

    (folder / "modelpack.yaml").write_text("name: m\nfiles: {exclude: [.DS_Store, .ipynb_checkpoints, __pycache__]}\n")
    clean = modelpack("pack", str(folder), "-t", "local/m:2")
    assert (clean.code, clean.err) == (0, ""), clean.err
    layers = json.loads(modelpack("inspect", "local/m:2", "--json").out)["layers"]
    assert [layer["path"] for layer in layers] == ["model.safetensors"]


def test_pack_names_large_files_it_packs_as_weights_by_guess(tmp_path: Path) -> None:
    """A stray core dump or archive beside the model went in as a weight layer without a word."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "modelpack.yaml").write_text("name: m\n")
    (folder / "model.safetensors").write_bytes(os.urandom(500))
    (folder / "notes.xyz").write_bytes(b"small: not worth a line")
    with open(folder / "core.12345", "wb") as f:
        f.truncate(64 * 1024 * 1024)  # (sparse: hashed, never written)
    packed = modelpack("pack", str(folder), "-t", "local/m:1")
    assert packed.code == 0, packed.err
    assert packed.err == ("warning: packing as weights, by guess from their names: core.12345 (64.0 MiB) (if they "
                          "are, say so with files.kinds: {core.12345: weight} in modelpack.yaml; if not, leave them "
                          "out with files.exclude: [core.12345])\n"), packed.err

    (folder / "modelpack.yaml").write_text("name: m\nfiles: {kinds: {core.12345: weight}}\n")
    assert modelpack("pack", str(folder), "-t", "local/m:2").err == ""
    (folder / "modelpack.yaml").write_text("name: m\nfiles: {exclude: [core.12345]}\n")
    assert modelpack("pack", str(folder), "-t", "local/m:3").err == ""
    layers = json.loads(modelpack("inspect", "local/m:3", "--json").out)["layers"]
    assert [layer["path"] for layer in layers] == ["model.safetensors", "notes.xyz"]
