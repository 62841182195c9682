"""A layout is written (`copy REF oci:DIR`, `push DIR oci:DIR`, `build-image -t oci:DIR`) into a new folder,
an empty one, or an existing layout; an existing folder of other files (a model's folder, a home directory)
is refused before any registry is asked, and nothing is added to it. blobs/, index.json and oci-layout were
quietly added beside its files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry


def _folder(path: Path) -> Path:
    path.mkdir()
    (path / ".bashrc").write_text("alias ll='ls -l'\n")
    (path / "notes.txt").write_text("mine\n")
    return path


@pytest.mark.parametrize("command", ["copy", "push", "build-image"])
def test_a_folder_of_other_files_is_refused_first(registry: Registry, tmp_path: Path, command: str) -> None:
    home = _folder(tmp_path / "home")
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(1000))
    ref = f"{registry.host}/t/foreign:1"  # plain HTTP, asked without --plain-http: a TLS error if asked at all
    args = {"copy": ("copy", ref, f"oci:{home}:1"), "push": ("push", str(model), f"oci:{home}:1"),
            "build-image": ("build-image", ref, "-t", f"oci:{home}:1", "--trust-unverified-pickle")}[command]
    run = modelpack(*args)
    assert run.err.strip().splitlines() == [
        f"error: {home} is not an OCI image layout and holds other files ('.bashrc'): name an empty or new "
        "folder, or an existing layout"], run.err
    assert run.code == 2
    assert sorted(os.listdir(home)) == [".bashrc", "notes.txt"]


def _tags(layout: Path) -> list[str]:
    index = json.loads((layout / "index.json").read_text())
    return sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])


def test_a_new_or_empty_folder_and_an_existing_layout_are_written(tmp_path: Path) -> None:
    model = _folder(tmp_path / "m")
    pushed = modelpack("push", str(model), f"oci:{tmp_path / 'new'}:1")
    assert pushed.code == 0, pushed.err
    (tmp_path / "empty").mkdir()
    (tmp_path / "begun" / "blobs").mkdir(parents=True)  # a write stopped before its oci-layout file
    for folder in ("empty", "begun"):
        copied = modelpack("copy", f"oci:{tmp_path / 'new'}:1", f"oci:{tmp_path / folder}:1")
        assert copied.code == 0, copied.err
        assert sorted(os.listdir(tmp_path / folder)) == ["blobs", "index.json", "oci-layout"]
    again = modelpack("copy", f"oci:{tmp_path / 'empty'}:1", f"oci:{tmp_path / 'new'}:2")
    assert again.code == 0, again.err
    assert _tags(tmp_path / "new") == ["1", "2"]
