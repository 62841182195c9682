"""A directory pushed with no overrides, and nothing declared that must be settled first (file rules, a
format, lineage), is hashed while its metadata is built on another thread: the same artifact as the
ordinary path; a declared lineage or format still settled in the caller's thread (where `warn` runs); a
metadata failure stops the hashing (between files, and within a large one); packing imports no pydantic."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from modelpack.api.describing import describe
from modelpack.errors import MetadataError
from modelpack.metadata.schema import FileRules
from modelpack.oci.reference import Reference
from modelpack.packing.build import HashProgress, PackedLayer
from modelpack.packing.hashcache import HashCache
from modelpack.packing.rules import DEFAULT_RULES


@pytest.fixture(autouse=True)
def _no_git_above_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def _model(root: Path, files: int = 6) -> Path:
    root.mkdir()
    (root / "model.safetensors").write_bytes(b"\x08" * 300_000)
    for i in range(files - 1):
        (root / f"notes-{i}.md").write_text(f"note {i}\n")
    return root


def test_default_rules_are_file_rules_defaults() -> None:
    defaults = FileRules()
    for field in dataclasses.fields(DEFAULT_RULES):  # type: ignore[arg-type]
        assert list(getattr(DEFAULT_RULES, field.name) or []) == list(getattr(defaults, field.name) or []) \
            if field.name != "compress" else DEFAULT_RULES.compress == defaults.compress
    assert {f.name for f in dataclasses.fields(DEFAULT_RULES)} == set(FileRules.model_fields)  # type: ignore[arg-type]


def test_without_modelpack_yaml_the_artifact_is_the_ordinary_paths(tmp_path: Path) -> None:
    model = _model(tmp_path / "iris")
    meanwhile = describe(model, hashes=HashCache(tmp_path / "cache1"))
    # An empty modelpack.yaml takes the ordinary path (metadata first); it is never a layer itself.
    (model / "modelpack.yaml").write_text("{}\n")
    ordinary = describe(model, hashes=HashCache(tmp_path / "cache2"))
    assert meanwhile.metadata.name == "iris"
    assert meanwhile.manifest_bytes == ordinary.manifest_bytes
    assert meanwhile.config_bytes == ordinary.config_bytes


def test_a_metadata_failure_stops_the_hashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import modelpack.metadata.load as load

    def refuse(*args: object, **kwargs: object) -> None:
        raise MetadataError("name: refused for the test")

    monkeypatch.setattr(load, "load_metadata", refuse)
    model = _model(tmp_path / "iris", files=40)
    described: list[str] = []

    def on_layer(layer: PackedLayer) -> None:
        described.append(layer.source.relpath)
        for thread in threading.enumerate():  # the metadata has failed once its thread is done
            if thread.name == "modelpack-metadata":
                thread.join(30)

    with pytest.raises(MetadataError, match="refused for the test"):
        describe(model, hashes=HashCache(tmp_path / "cache"), on_layer=on_layer)
    assert len(described) <= 3  # of 40: each worker took no more files once it had failed


def test_packing_imports_no_pydantic() -> None:
    # What a push runs before its first hash: pydantic (~110 ms) is imported on the metadata's thread.
    code = ("import sys, modelpack.api.describing, modelpack.packing.build, modelpack.packing.select; "
            "assert 'pydantic' not in sys.modules and 'yaml' not in sys.modules")
    run = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def _join_metadata_thread() -> None:
    for thread in threading.enumerate():  # the metadata is known (or has failed) once its thread is done
        if thread.name == "modelpack-metadata":
            thread.join(30)


def test_a_modelpack_yaml_without_file_rules_is_the_ordinary_paths_too(tmp_path: Path) -> None:
    model = _model(tmp_path / "iris")
    (model / "modelpack.yaml").write_text("name: iris\nversion: '2.0'\nlicenses: MIT\n")
    meanwhile = describe(model, hashes=HashCache(tmp_path / "cache1"))
    ordinary = describe(model, {"version": "2.0"}, hashes=HashCache(tmp_path / "cache2"))  # overrides: ordinary
    assert meanwhile.metadata.version == "2.0" and meanwhile.metadata.licenses == ["MIT"]
    assert meanwhile.manifest_bytes == ordinary.manifest_bytes


def test_a_declared_lineage_or_format_is_settled_in_the_callers_thread(tmp_path: Path) -> None:
    model = _model(tmp_path / "iris")
    (model / "modelpack.yaml").write_text("name: iris\nformat: onnx\nparent: localhost:5000/team/base:1\n")
    pinned: list[str] = []
    said: list[str] = []

    def resolver(ref: Reference) -> str:
        pinned.append(str(ref))
        return "sha256:" + "ab" * 32

    caller = threading.current_thread()

    def warn(line: str) -> None:  # a hook may close the client the call runs on: the caller's thread only
        assert threading.current_thread() is caller
        said.append(line)

    packed = describe(model, hashes=HashCache(tmp_path / "cache"), resolver=resolver, warn=warn)
    assert pinned == ["localhost:5000/team/base:1"]
    assert packed.metadata.parent == "localhost:5000/team/base:1@sha256:" + "ab" * 32
    assert len(said) == 1 and "onnx" in said[0]


def test_a_bad_modelpack_yaml_stops_a_large_files_hashing(tmp_path: Path) -> None:
    model = tmp_path / "big"
    model.mkdir()
    with open(model / "model.safetensors", "wb") as f:
        f.truncate(64 * 1024 * 1024)
    (model / "modelpack.yaml").write_text("name: big\nmetric:\n  f1: 0.9\n")  # `metric:`, a typo
    hashed: list[int] = []
    progress = HashProgress(start=lambda size: _join_metadata_thread(), advance=hashed.append)
    with pytest.raises(MetadataError, match="metric"):
        describe(model, hashes=HashCache(tmp_path / "cache"), hash_progress=progress)
    assert sum(hashed) < 64 * 1024 * 1024  # stopped within a piece of the failure, not hashed to its end
