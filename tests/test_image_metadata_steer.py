"""A model's own `modelpack.yaml` cannot steer a serving image to a pickle the build let through.

`serve /models` reads `/models/modelpack.yaml` when it is there, and its `framework` narrows the choice (a
`scikit-learn` model is served from its `.skops` file or its pickle, never from an ONNX file beside it). An
artifact another tool pushed (ORAS) may carry a file of that name; `build-image` checked the choice as if it
were absent, saw the ONNX file, and built an image whose `serve` ran the pickle."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from helpers import modelpack
from registry_process import Registry
from test_image import crane, push_base
from test_image_refusals import tags
from test_serve_trust import Hostile, assert_one_line, model_dir

pytestmark = pytest.mark.interop
STEER = b"name: steer\nframework: scikit-learn\n"


def _oras_model(registry: Registry, tmp_path: Path, oras_bin: Path, files: dict[str, Any]) -> str:
    folder = model_dir(tmp_path, "steer", files)
    ref = registry.repo("steer") + ":1"
    subprocess.run([str(oras_bin), "push", "--plain-http", ref, *sorted(files)], cwd=folder, check=True,
                   capture_output=True, timeout=60)
    return ref


def _serving_image(registry: Registry, ref: str, *extra: str) -> tuple[Any, str]:
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    image = registry.repo("img") + ":1"
    return modelpack("build-image", "--plain-http", ref, "-t", image, "--base", base, "--no-serving-layer",
                     *extra), image


def test_a_modelpack_yaml_layer_steering_serve_to_the_pickle_is_refused(registry: Registry, tmp_path: Path,
                                                                         oras_bin: Path, crane_bin: Path,
                                                                         serving: Any) -> None:
    marker = tmp_path / "pwned"
    ref = _oras_model(registry, tmp_path, oras_bin, {"model.onnx": b"\x08\x07", "model.joblib": Hostile(marker),
                                                     "modelpack.yaml": STEER})
    run, image = _serving_image(registry, ref)
    assert_one_line(run.err, 2, run.code, "modelpack.yaml", "model.joblib", "--trust-unverified-pickle")
    assert tags(image) == [] and not marker.exists()
    # What the refusal prevents: the image built anyway, its `serve /models` follows the file to the pickle.
    built, image = _serving_image(registry, ref, "--trust-unverified-pickle")
    assert built.code == 0, built.err
    root = tmp_path / "rootfs"
    with tarfile.open(fileobj=io.BytesIO(crane(crane_bin, "export", image, "-"))) as tar:
        tar.extractall(root, filter="data")
    assert (root / "models" / "modelpack.yaml").read_bytes() == STEER
    serving(str(root / "models"))
    assert marker.exists()


def test_a_modelpack_yaml_beside_only_safe_files_builds(registry: Registry, tmp_path: Path,
                                                        oras_bin: Path) -> None:
    ref = _oras_model(registry, tmp_path, oras_bin, {"model.onnx": b"\x08\x07", "modelpack.yaml": STEER})
    run, image = _serving_image(registry, ref)
    assert run.code == 0, run.err
    assert tags(image) == ["1"]


def test_an_image_volume_with_such_a_modelpack_yaml_is_refused(registry: Registry, tmp_path: Path,
                                                              oras_bin: Path) -> None:
    """The serving image serves a mounted artifact's files as its /models too."""
    ref = _oras_model(registry, tmp_path, oras_bin, {"model.onnx": b"\x08\x07", "model.joblib": b"\x80\x04.",
                                                     "modelpack.yaml": STEER})
    server = registry.repo("server") + ":1"
    push_base(server, ("amd64",))
    run = modelpack("k8s", "--plain-http", "--kind", "image-volume", "--serving-image", server, ref)
    last = run.err.strip().splitlines()[-1]  # after the tar-layer warning: oras gives files the tar type
    assert_one_line(last, 2, run.code, "modelpack.yaml", "model.joblib")
    assert run.out == ""


@pytest.mark.parametrize("metadata", ["./modelpack.yaml", "sub/../modelpack.yaml"])
def test_an_image_volume_whose_modelpack_yaml_path_is_written_another_way_is_refused(registry: Registry,
                                                                                   metadata: str) -> None:
    """`./modelpack.yaml` is restored (and served) as /models/modelpack.yaml: the check read the path as
    written, saw no modelpack.yaml, and wrote the Deployment (exit 0). A path climbing out with `..` is refused
    as `pull -o` refuses it."""
    from test_image_layer_paths import push_files

    ref = registry.repo("steer") + ":1"
    push_files(ref, [("model.onnx", b"\x08\x07"), ("model.joblib", b"\x80\x04."), (metadata, STEER)])
    server = registry.repo("server") + ":1"
    push_base(server, ("amd64",))
    run = modelpack("k8s", "--plain-http", "--kind", "image-volume", "--serving-image", server, ref)
    if ".." in metadata:
        assert_one_line(run.err, 6, run.code, "'..'")
    else:
        assert_one_line(run.err, 2, run.code, "modelpack.yaml", "model.joblib")
    assert run.out == ""


def test_an_image_volume_titling_its_file_as_a_pickle_is_refused(registry: Registry, tmp_path: Path,
                                                                 oras_bin: Path) -> None:
    """The runtime (CRI-O, as `oras pull`) names an artifact's file by its title: a layer whose path is
    model.onnx and whose title is model.joblib is mounted as the pickle `serve /models` then loads. The check
    read the path alone and wrote the Deployment (exit 0)."""
    from test_image_layer_paths import push_files

    ref = registry.repo("titled") + ":1"
    push_files(ref, [("model.onnx", b"\x80\x04.")], titles={"model.onnx": "model.joblib"})
    pulled = tmp_path / "oras"
    subprocess.run([str(oras_bin), "pull", "--plain-http", ref, "-o", str(pulled)], check=True, capture_output=True,
                   timeout=60)
    assert [p.name for p in pulled.iterdir()] == ["model.joblib"]  # how the runtime names it
    server = registry.repo("server") + ":1"
    push_base(server, ("amd64",))
    run = modelpack("k8s", "--plain-http", "--kind", "image-volume", "--serving-image", server, ref)
    assert_one_line(run.err, 2, run.code, "model.joblib", "--trust-unverified-pickle")
    assert run.out == ""
