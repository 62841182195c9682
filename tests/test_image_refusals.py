"""build-image and k8s refuse what would give broken output: a model as base, an image as model, an empty
base index, base configs that break the image spec, the wrong kind of reference for a Kubernetes kind."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

import modelpack as mp
from helpers import modelpack
from hostile_artifacts import add
from images import GOOD_CONFIG, LAYER, push_image
from modelpack.errors import NotFoundError
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Index, Platform
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_image import push_base

PLAIN = ClientOptions(plain_http=True)
def push_index(ref: str, children: list[Descriptor]) -> None:
    data = Index(manifests=children).canonical_bytes()
    desc = Descriptor(mediaType="application/vnd.oci.image.index.v1+json", digest=digests.of_bytes(data),
                      size=len(data))
    mp.remote(mp.Reference.parse(ref), PLAIN).put_manifest(desc, data, mp.Reference.parse(ref).tag)


def push_model(registry: Registry, tmp_path: Path, yaml_text: str = "name: iris\nframework: scikit-learn\n",
               repo: str | None = None) -> str:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "model.onnx").write_bytes(os.urandom(2000))
    (folder / "modelpack.yaml").write_text(yaml_text)
    ref = (repo or registry.repo()) + ":1"
    mp.push(folder, ref, options=PLAIN)
    return ref


def tags(ref: str) -> list[str]:
    try:
        return mp.remote(mp.Reference.parse(ref), PLAIN).tags()
    except NotFoundError:
        return []


def build(model: str, image: str, *extra: str) -> Any:
    return modelpack("build-image", model, "-t", image, "--plain-http", *extra)


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_a_model_artifact_as_base_is_refused(registry: Registry, tmp_path: Path) -> None:
    model = push_model(registry, tmp_path)
    image = registry.repo("img") + ":1"
    run = build(model, image, "--base", model)
    assert run.code == 2 and one_line(run.err), run.err
    assert "is not a container image" in run.err and "--base" in run.err
    assert "but a ModelPack model (media type application/vnd.cncf.model.manifest.v1+json)" in run.err
    assert tags(image) == []


def test_a_container_image_as_the_model_is_named_as_such(registry: Registry) -> None:
    serving = registry.repo("serving") + ":1"
    push_image(serving)
    run = build(serving, registry.repo("img") + ":1", "--base", serving)
    assert run.code == 2 and one_line(run.err), run.err
    assert "is a container image, not a model artifact" in run.err


@pytest.mark.parametrize("children", ["none", "attestations only"])
def test_a_base_index_without_platform_images_is_refused(registry: Registry, tmp_path: Path, children: str) -> None:
    model = push_model(registry, tmp_path)
    repo = registry.repo("base")
    base = repo + ":empty"
    listed = []
    if children != "none":
        attestation = push_image(repo + ":x", tag=False)
        listed = [attestation.replace(platform=Platform(architecture="unknown", os="unknown"))]
    push_index(base, listed)
    image = registry.repo("img") + ":1"
    run = build(model, image, "--base", base)
    assert run.code != 0 and one_line(run.err), run.err
    assert "lists no platform image" in run.err
    assert tags(image) == []


def _config(**changes: Any) -> dict[str, Any]:
    config = json.loads(json.dumps(GOOD_CONFIG))
    for path, value in changes.items():
        node = config
        *parents, key = path.split("__")
        for parent in parents:
            node = node[parent]
        if value is _DROP:
            del node[key]
        else:
            node[key] = value
    return config


_DROP = object()


@pytest.mark.parametrize(("config", "field"), [
    (_config(rootfs__diff_ids=[digests.of_bytes(LAYER), digests.of_bytes(b"x")]), "rootfs.diff_ids lists 2"),
    (_config(rootfs=_DROP), "rootfs is missing"),
    (_config(rootfs__type="tar"), "rootfs.type"),
    (_config(os=5), "os is not a string"),
    (_config(architecture=_DROP), "architecture is missing"),
    (_config(architecture=""), "architecture is empty"),
    (_config(os=""), "os is empty"),
    (_config(config__Cmd="sh"), "config.Cmd is not an array of strings"),
    (_config(config__Cmd=[5]), "config.Cmd is not an array of strings"),
    (_config(config__Entrypoint="sh"), "config.Entrypoint"),
    (_config(config__WorkingDir=5), "config.WorkingDir is not a string"),
    (_config(config__Labels={"a": 5}), "config.Labels is not an object of strings"),
    (_config(config__ExposedPorts={"80/tcp": 1}), "config.ExposedPorts"),
    (_config(history=[1, 2]), "history is not an array of objects"),
    (_config(history=[{"empty_layer": "yes"}]), "history[0].empty_layer"),
])
def test_base_configs_that_break_the_image_spec_are_refused(registry: Registry, tmp_path: Path,
                                                            config: dict[str, Any], field: str) -> None:
    model = push_model(registry, tmp_path)
    base = registry.repo("base") + ":1"
    push_image(base, config)
    image = registry.repo("img") + ":1"
    run = build(model, image, "--base", base)
    assert run.code == 6 and one_line(run.err), run.err
    assert f"base image {base}: its config is malformed" in run.err and field in run.err
    assert tags(image) == []


def test_a_base_made_by_crane_append_without_a_platform_is_refused(registry: Registry, tmp_path: Path,
                                                                   crane_bin: Path) -> None:
    """`crane append -f rootfs.tar` (no --base) writes architecture "" and os "": a modelcar on it was built
    with no platform, and a serving image failed with "no manylinux wheels for architecture :" (exit 1)."""
    layer = tmp_path / "rootfs.tar"
    with tarfile.open(layer, "w") as tar:
        tar.add(__file__, arcname="etc/hostname")
        tar.add(__file__, arcname="bin/sh")  # KServe runs a modelcar with `sh -c`
    base = registry.repo("crane-base") + ":1"
    subprocess.run([str(crane_bin), "append", "-f", str(layer), "-t", base, "--insecure"], check=True,
                   capture_output=True)
    model = push_model(registry, tmp_path)
    for extra in (("--modelcar",), ()):
        image = registry.repo("img") + ":1"
        run = build(model, image, "--base", base, *extra)
        assert run.code == 6 and one_line(run.err), run.err
        assert run.err == (f"error: base image {base}: its config is malformed (architecture is empty: `crane "
                           "mutate IMAGE --set-platform linux/amd64` sets the platform); use another --base\n")
        assert tags(image) == []
    subprocess.run([str(crane_bin), "mutate", base, "--set-platform", "linux/amd64", "-t", base, "--insecure"],
                   check=True, capture_output=True)
    assert build(model, registry.repo("img") + ":1", "--base", base, "--modelcar").code == 0


def test_a_well_formed_base_still_builds(registry: Registry, tmp_path: Path) -> None:
    model = push_model(registry, tmp_path)
    base = registry.repo("base") + ":1"
    push_image(base, _config(config__Cmd=None, config__Labels={"a": "b"}, history=[{"empty_layer": False}]))
    run = build(model, registry.repo("img") + ":1", "--base", base, "--no-serving-layer")
    assert run.code == 0, run.err


def test_a_serving_base_without_python_is_refused(registry: Registry, tmp_path: Path) -> None:
    model = push_model(registry, tmp_path)
    base = registry.repo("base") + ":nopython"
    push_image(base)  # one layer of zeros: no interpreter, no standard library
    image = registry.repo("img") + ":1"
    run = build(model, image, "--base", base)
    assert run.code == 2 and one_line(run.err), run.err
    assert f"--base {base} has no Python 3" in run.err and "--no-serving-layer" in run.err
    assert tags(image) == []


def test_a_missing_model_is_reported_before_the_default_base(registry: Registry) -> None:
    run = build(registry.repo("nothing") + ":1", registry.repo("img") + ":1")
    assert run.code == 3 and one_line(run.err), run.err
    assert "ghcr.io" not in run.err and "nothing" in run.err


def test_k8s_deployment_of_a_model_artifact_is_refused(registry: Registry, tmp_path: Path) -> None:
    model = push_model(registry, tmp_path)
    run = modelpack("k8s", model, "--plain-http")
    assert run.code == 2 and one_line(run.err), run.err
    assert "not a container image" in run.err and "build-image" in run.err and run.out == ""
    # Said as what it is to the user; the media type only as the detail.
    assert (f"{model} is a ModelPack model (media type application/vnd.cncf.model.manifest.v1+json), not a "
            "container image") in run.err
    # The ways out it names take this artifact: not `--kind kserve` on it (refused as well), but a modelcar.
    assert "--kind image-volume --serving-image IMAGE" in run.err and "--modelcar" in run.err
    assert modelpack("k8s", "--kind", "kserve", model, "--plain-http").code == 2


def test_k8s_image_volume_refuses_a_container_image(registry: Registry) -> None:
    serving = registry.repo("serving") + ":1"
    push_image(serving)
    run = modelpack("k8s", "--kind", "image-volume", serving, "--plain-http")
    assert run.code == 2 and one_line(run.err), run.err
    assert "is a container image" in run.err and run.out == ""


def test_k8s_image_volume_refuses_a_model_as_serving_image(registry: Registry, tmp_path: Path) -> None:
    model = push_model(registry, tmp_path)
    run = modelpack("k8s", "--kind", "image-volume", "--serving-image", model, model, "--plain-http")
    assert run.code == 2 and "--serving-image" in run.err and "not a container image" in run.err
    assert "is a ModelPack model (media type " in run.err and "an artifact of type" not in run.err


def modelcar(registry: Registry, tmp_path: Path) -> tuple[str, str, str]:
    """A model, a base with `sh` and a modelcar built from both: their references."""
    model = push_model(registry, tmp_path)
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    car = registry.repo("car") + ":1"
    assert build(model, car, "--base", base, "--modelcar").code == 0
    return model, base, car


def test_k8s_deployment_refuses_a_modelcar(registry: Registry, tmp_path: Path) -> None:
    # A modelcar's command is `sleep`: a Deployment of it was written, and its pod never passed a probe.
    model, _, car = modelcar(registry, tmp_path)
    run = modelpack("k8s", car, "--plain-http")
    assert (run.code, run.out) == (2, "") and one_line(run.err), run.err
    assert f"{car} is a modelcar (built with --modelcar): it holds a model and runs no server" in run.err
    # The ways out: KServe, which mounts a modelcar, or a serving image of the model it was built from.
    assert "deploy it with --kind kserve" in run.err
    assert f"`modelpack build-image {model.rsplit(':', 1)[0]}@sha256:" in run.err
    # The kind that takes a modelcar still does.
    assert modelpack("k8s", "--kind", "kserve", car, "--model-format", "sklearn", "--plain-http").code == 0


def test_k8s_image_volume_refuses_a_modelcar_as_serving_image(registry: Registry, tmp_path: Path) -> None:
    # A modelcar holds a model and runs no server: the YAML was written, its pod would never serve.
    model, base, car = modelcar(registry, tmp_path)
    run = modelpack("k8s", "--kind", "image-volume", "--serving-image", car, model, "--plain-http")
    assert (run.code, run.out) == (2, "") and one_line(run.err), run.err
    assert f"--serving-image {car} is a modelcar (built with --modelcar): it holds a model and runs no server" \
        in run.err and f"`modelpack build-image {model} -t IMAGE`" in run.err
    # An image that does not run `modelpack serve` (a plain base) is written, with a warning saying so.
    plain = modelpack("k8s", "--kind", "image-volume", "--serving-image", base, model, "--plain-http")
    assert plain.code == 0 and "kind: Deployment" in plain.out, plain.err
    assert plain.err == (f"warning: {base} does not run `modelpack serve` (its entrypoint): the Deployment runs "
                         "`modelpack serve /models` in it, which needs modelpack installed there (build-image makes "
                         "such an image)\n")
    serving = registry.repo("serving") + ":1"
    assert build(model, serving, "--base", base, "--no-serving-layer").code == 0
    quiet = modelpack("k8s", "--kind", "image-volume", "--serving-image", serving, model, "--plain-http")
    assert (quiet.code, quiet.err) == (0, ""), quiet.err  # a serving image build-image made: no warning


def test_k8s_names_an_artifact_that_is_no_model(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    ref = registry.repo("other") + ":1"
    (tmp_path / "notes.txt").write_text("not a model")
    subprocess.run([str(oras_bin), "push", "--plain-http", "--artifact-type", "application/vnd.example.notes+json",
                    ref, "notes.txt"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    run = modelpack("k8s", ref, "--plain-http")
    assert run.code == 2 and one_line(run.err), run.err
    assert (f"{ref} is an OCI artifact that is not a model (media type application/vnd.example.notes+json), not "
            "a container image") in run.err


def test_kserve_needs_a_framework_or_model_format(registry: Registry, tmp_path: Path) -> None:
    model = push_model(registry, tmp_path, "name: iris\n")
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))  # with the sh KServe runs a modelcar with
    modelcar = registry.repo("car") + ":1"
    assert build(model, modelcar, "--modelcar", "--base", base).code == 0
    for image in (modelcar, base):  # ours, recording a model without a framework; anyone's image
        run = modelpack("k8s", "--kind", "kserve", image, "--plain-http")
        assert run.code == 2 and one_line(run.err) and "--model-format" in run.err, run.err
    given = modelpack("k8s", "--kind", "kserve", "--model-format", "onnx", modelcar, "--plain-http")
    assert given.code == 0, given.err
    assert yaml.safe_load(given.out)["spec"]["predictor"]["model"]["modelFormat"]["name"] == "onnx"


def test_k8s_names_start_with_a_letter_and_yaml_has_no_aliases(registry: Registry) -> None:
    image = f"{registry.host}/team/9start:1"
    push_image(image)
    run = modelpack("k8s", image, "--plain-http")
    assert run.code == 0, run.err
    documents = list(yaml.safe_load_all(run.out))
    assert documents[1]["kind"] == "Service" and documents[1]["metadata"]["name"] == "model-9start"
    assert documents[0]["metadata"]["name"] == "model-9start"
    assert "&id" not in run.out and "*id" not in run.out


def test_a_base_layer_with_a_sparse_map_is_refused_in_one_line(registry: Registry, tmp_path: Path) -> None:
    # tarfile reads a sparse map whole, unbounded, while looking for Python; a malformed one raised ValueError.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, "usr/lib/python3.11/os.py", b"", pax={"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                                       "GNU.sparse.name": "usr/lib/python3.11/os.py"})
    layer = buffer.getvalue()
    base = registry.repo("base") + ":sparse"
    push_image(base, {**GOOD_CONFIG, "rootfs": {"type": "layers", "diff_ids": [digests.of_bytes(layer)]}}, layer=layer)
    image = registry.repo("img") + ":1"
    run = build(push_model(registry, tmp_path), image, "--base", base)
    assert run.code == 6 and one_line(run.err), run.err
    assert "a base image layer: refused archive entry 'usr/lib/python3.11/os.py': sparse" in run.err, run.err
    assert "--base" in run.err and tags(image) == []
