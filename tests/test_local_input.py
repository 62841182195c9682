"""Local input, store and configuration mistakes: each refused in one line with its documented exit code,
never packed silently and never an "internal error" (issue 11, item 5 and the probe's local findings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack


def _model(root: Path, yaml_text: str | None = "name: m\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "weights.bin").write_bytes(b"w" * 100)
    if yaml_text is not None:
        (root / "modelpack.yaml").write_text(yaml_text)
    return root


# -- C40: links that leave the model directory are refused (security) -------------------------------
@pytest.mark.parametrize("name", ["out", "sub/out"])
def test_file_link_leaving_the_model_directory_is_refused(tmp_path: Path, name: str) -> None:
    secret = tmp_path / "home" / ".ssh" / "id_rsa"
    secret.parent.mkdir(parents=True)
    secret.write_text("PRIVATE KEY")
    model = _model(tmp_path / "m")
    (model / "sub").mkdir()
    (model / name).symlink_to(secret)
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 2, run.err
    assert name in run.err and str(secret) in run.err and "copy" in run.err
    assert "PRIVATE KEY" not in modelpack("inspect", "localhost:5000/t/m:1").out


def test_folder_link_leaving_the_model_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0")
    model = _model(tmp_path / "m")
    (model / "outdir").symlink_to(outside)
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 2, run.err
    assert "outdir" in run.err and str(outside) in run.err


def test_metadata_file_linked_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "passwd.yaml"
    outside.write_text("name: stolen\ndescription: root:x:0:0\n")
    model = _model(tmp_path / "m", yaml_text=None)
    (model / "modelpack.yaml").symlink_to(outside)
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 2, run.err
    assert "modelpack.yaml" in run.err and str(outside) in run.err


def test_links_that_stay_inside_are_followed(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    (model / "real").mkdir()
    (model / "real" / "a.bin").write_bytes(b"a" * 10)
    (model / "alias.bin").symlink_to("real/a.bin")
    (model / "up").mkdir()
    (model / "up" / "back.bin").symlink_to("../weights.bin")
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 0, run.err
    out = tmp_path / "out"
    assert modelpack("unpack", "localhost:5000/t/m:1", "-o", str(out)).code == 0
    assert (out / "alias.bin").read_bytes() == b"a" * 10
    assert (out / "up" / "back.bin").read_bytes() == b"w" * 100


def test_hugging_face_cache_snapshot_links_into_its_blobs_are_followed(tmp_path: Path) -> None:
    repo = tmp_path / "hub" / "models--org--tiny"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc123").write_bytes(b"weights")
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to("../../blobs/abc123")
    run = modelpack("pack", str(snapshot), "-t", "localhost:5000/t/tiny:1")
    assert run.code == 0, run.err
    # ... but not anywhere else in the cache.
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    (snapshot / "ref").symlink_to("../../refs/main")
    run = modelpack("pack", str(snapshot), "-t", "localhost:5000/t/tiny:2")
    assert run.code == 2 and "ref" in run.err, run.err
