"""`build-image -t oci:DIR[:TAG]`: the image written into an OCI image layout directory, offline, as `copy`
and `push DIR oci:...` write one; read back by the reference clients (oras, crane) and pushed from there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry
from test_image import crane, exported, model_ref, push_base  # noqa: F401  (model_ref: a fixture)
from test_serve_trust import assert_one_line

pytestmark = pytest.mark.interop


def _oras(oras_bin: Path, *args: str) -> bytes:
    proc = subprocess.run([str(oras_bin), *args], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def test_a_serving_image_goes_into_a_layout_that_oras_and_crane_read(
        registry: Registry, crane_bin: Path, oras_bin: Path, model_ref: tuple[str, str],  # noqa: F811
        tmp_path: Path) -> None:
    ref, model_digest = model_ref
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    layout = tmp_path / "image"
    built = modelpack("build-image", "--plain-http", "--json", ref, "-t", f"oci:{layout}:serve", "--base", base,
                      "--no-serving-layer", "--trust-unverified-pickle")
    assert built.code == 0, built.err
    digest = json.loads(built.out)["digest"]
    assert json.loads(built.out)["pinned"] == f"oci:{layout}@{digest}"
    manifest = json.loads(_oras(oras_bin, "manifest", "fetch", "--oci-layout", f"{layout}:serve"))
    assert manifest["annotations"]["io.modelpack.model.digest"] == model_digest
    assert _oras(oras_bin, "resolve", "--oci-layout", f"{layout}:serve").decode().strip() == digest
    # crane pushes the layout as it is (the same digest) and reads the image's files from the registry.
    pushed = registry.repo("from-layout") + ":1"
    crane(crane_bin, "push", str(layout), pushed)
    assert json.loads(crane(crane_bin, "manifest", pushed)) == manifest
    files = exported(crane_bin, pushed)
    assert files["models/model.joblib"][0] == (tmp_path / "model" / "model.joblib").read_bytes()
    assert files["etc/base-release"][0] == b"base amd64\n"


def test_a_multi_platform_modelcar_goes_into_a_layout(registry: Registry, oras_bin: Path,
                                                      model_ref: tuple[str, str], tmp_path: Path) -> None:  # noqa: F811
    ref, _ = model_ref
    base = registry.repo("base") + ":multi"
    push_base(base, ("amd64", "arm64"))
    layout = tmp_path / "car"
    built = modelpack("build-image", "--plain-http", "--modelcar", ref, "-t", f"oci:{layout}:1", "--base", base,
                      "--trust-unverified-pickle")
    assert built.code == 0, built.err
    index = json.loads(_oras(oras_bin, "manifest", "fetch", "--oci-layout", f"{layout}:1"))
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]
    for child in index["manifests"]:  # every platform's image is in the layout, whole
        image = json.loads(_oras(oras_bin, "manifest", "fetch", "--oci-layout", f"{layout}@{child['digest']}"))
        for blob in (image["config"], *image["layers"]):
            assert (layout / "blobs" / "sha256" / blob["digest"].split(":")[1]).stat().st_size == blob["size"]
    # and modelpack itself takes it on from there, to a registry
    moved = modelpack("copy", "--plain-http", f"oci:{layout}:1", registry.repo("car") + ":1")
    assert moved.code == 0, moved.err


def test_what_a_layout_cannot_be_given_is_one_line(model_ref: tuple[str, str], tmp_path: Path) -> None:  # noqa: F811
    ref, _ = model_ref
    layout = tmp_path / "image"
    pinned = modelpack("build-image", "--plain-http", ref, "-t", f"oci:{layout}@sha256:{'a' * 64}")
    assert_one_line(pinned.err, 2, pinned.code, "oci:DIR[:TAG]")
    docker = modelpack("build-image", "--plain-http", "--docker", ref, "-t", f"oci:{layout}:1")
    assert_one_line(docker.err, 2, docker.code, "drop --docker")
    assert not layout.exists()
