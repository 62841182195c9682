"""A hostile or broken `modelpack.yaml` in a directory being pushed (a model downloaded from anywhere carries
its own): `push DIR REF` reads it before hashing and validates it on a thread while files are hashed and
large ones uploaded (api/describing.py). Each must end in one line naming the file (exit 2; for a `parent`
whose registry never answers, within --timeout, naming it), stop the uploads already under way, and leave
no model in the store or the registry.

Before: ten lines of "billion laughs" under `hyperparameters` kept a push busy for good (over 120 s, then
killed); an alias inside what it names, or lists nested 20,000 deep, ended in `internal error
(RecursionError ...)` (exit 70); a list of 300,000 items (600 KB) was parsed for ~12 s, then pushed; a
silent `parent` registry was said with the Python API's advice, `raise ClientOptions(timeout=4)`, to a
command-line user."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import Run, modelpack
from hostile_registry import HostileRegistry
from registry_process import Registry

MIB = 1 << 20


def _laughs() -> str:
    lines = ["  l0: &l0 [" + ", ".join(['"lol"'] * 10) + "]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "name: m\nhyperparameters:\n" + "\n".join(lines) + "\n"


CASES = {
    "billion-laughs": (_laughs(), "its aliases expand to more than 10,000 values"),
    "300000-items": ("name: m\ndatasets: [" + ",".join(["a"] * 300_000) + "]\n", "(line 2): more than 10,000 values"),
    "alias-cycle": ("name: m\nhyperparameters: &h\n  self: *h\n", "an alias refers to a value it is part of"),
    "deep-lists": ("name: m\nhyperparameters:\n  a: " + "[" * 20000 + "]" * 20000 + "\n",
                   "nested more than 64 levels deep"),
    "deep-maps": ("name: m\nhyperparameters: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
                  "nested more than 64 levels deep"),
    "deep-aliases": ("name: m\nhyperparameters:\n  a: &a " + "[" * 40 + "]" * 40 + "\n  b: " + "[" * 40 + "*a"
                     + "]" * 40 + "\n", "nested more than 64 levels deep (through aliases)"),
    "over-1-mib": ("name: m\ndescription: " + "x" * (50 * MIB) + "\n", "larger than 1048576 bytes"),
    "wrong-types": ("name: [1, 2]\nmetrics: 5\n", "invalid metadata: name: Input should be a valid string"),
}


def _model(folder: Path, yaml_text: str, large: bool) -> Path:
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(40 * MIB if large else 4096))
    (folder / "modelpack.yaml").write_text(yaml_text)
    return folder


def _one_line(run: Run, code: int) -> str:
    lines = run.err.strip().splitlines()
    assert run.code == code, run.err[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err[-2000:]
    assert "Traceback" not in run.err and "internal error" not in run.err
    return lines[0]


def _nothing_stored(home: Path) -> None:
    index = home / "index.json"
    assert not index.exists() or json.loads(index.read_text()).get("manifests") == []
    assert not (home / "ingest").exists() or not any((home / "ingest").iterdir())
    assert not (home / "blobs").exists() or not any((home / "blobs").rglob("*/*"))


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_metadata_file_fails_the_push_in_one_line(registry: Registry, modelpack_home: Path,
                                                            tmp_path: Path, case: str) -> None:
    text, said = CASES[case]
    folder = _model(tmp_path / "m", text, large=case == "wrong-types")  # validated while a large file uploads
    ref = registry.repo() + ":1"
    run = modelpack("push", "--plain-http", str(folder), ref, timeout=60)
    line = _one_line(run, 2)
    assert str(folder / "modelpack.yaml") in line or "invalid metadata" in line, line
    assert said in line, line
    _nothing_stored(modelpack_home)
    assert modelpack("inspect", "--plain-http", "--remote", ref).code == 3  # no model was tagged


def test_a_parent_whose_registry_never_answers_ends_within_the_timeout(modelpack_home: Path, tmp_path: Path,
                                                                      registry: Registry) -> None:
    with HostileRegistry() as silent:
        silent.routes[""] = silent.never_answer
        folder = _model(tmp_path / "m", f"name: m\nparent: {silent.host}/base/model:1\n", large=True)
        run = modelpack("push", "--plain-http", "--timeout", "4", str(folder), registry.repo() + ":1", timeout=60)
    line = _one_line(run, 5)  # exits as the unreachable registry it is (see test_versions), said in CLI terms
    assert f"cannot pin '{silent.host}/base/model:1' to a digest" in line and "raise --timeout 4" in line, line
    assert "ClientOptions" not in line, line
    _nothing_stored(modelpack_home)
