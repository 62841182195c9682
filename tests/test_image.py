"""build-image without a Docker engine, checked from the registry with crane; Kubernetes YAML."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

import modelpack as mp
from helpers import modelpack
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Index, Manifest, Platform
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
pytestmark = pytest.mark.interop


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def push_base(ref: str, archs: tuple[str, ...]) -> None:
    """A tiny base image (one layer: /etc/base-release, /bin/hello, /bin/sh, which KServe runs a modelcar
    with), single- or multi-platform."""
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    children = []
    for arch in archs:
        layer = _tar({"etc/base-release": (f"base {arch}\n".encode(), 0o644),
                      "bin/hello": (b"#!/bin/sh\necho hello\n", 0o755), "bin/sh": (b"\x7fELF", 0o755)})
        layer_desc = Descriptor(mediaType="application/vnd.oci.image.layer.v1.tar", digest=digests.of_bytes(layer),
                                size=len(layer))
        config = json.dumps({"architecture": arch, "os": "linux",
                             "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/hello"], "Labels": {"base": "yes"}},
                             "rootfs": {"type": "layers", "diff_ids": [layer_desc.digest]},
                             "history": [{"created_by": "test base"}]}).encode()
        config_desc = Descriptor(mediaType="application/vnd.oci.image.config.v1+json",
                                 digest=digests.of_bytes(config), size=len(config))
        for desc, data in ((layer_desc, layer), (config_desc, config)):
            repo.push_blob(desc, lambda data=data: io.BytesIO(data))
        manifest = Manifest(config=config_desc, layers=[layer_desc]).canonical_bytes()
        desc = Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json", digest=digests.of_bytes(manifest),
                          size=len(manifest))
        repo.put_manifest(desc, manifest, None if len(archs) > 1 else mp.Reference.parse(ref).tag)
        children.append(desc.replace(platform=Platform(architecture=arch, os="linux")))
    if len(archs) > 1:
        index = Index(manifests=children).canonical_bytes()
        index_desc = Descriptor(mediaType="application/vnd.oci.image.index.v1+json", digest=digests.of_bytes(index),
                                size=len(index))
        repo.put_manifest(index_desc, index, mp.Reference.parse(ref).tag)


def crane(crane_bin: Path, *args: str) -> bytes:
    proc = subprocess.run([str(crane_bin), *args, "--insecure"], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def exported(crane_bin: Path, image: str, platform: str | None = None) -> dict[str, tuple[bytes, int]]:
    args = ["export", image, "-"] + (["--platform", platform] if platform else [])
    data = crane(crane_bin, *args)
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            if member.isfile():
                files[member.name.lstrip("./")] = (tar.extractfile(member).read(), member.mode)  # type: ignore[union-attr]
    return files


@pytest.fixture
def model_ref(registry: Registry, tmp_path: Path) -> tuple[str, str]:
    model = tmp_path / "model"
    (model / "tokenizer").mkdir(parents=True)
    (model / "model.joblib").write_bytes(os.urandom(3000))
    (model / "tokenizer" / "vocab.json").write_text("{}")
    (model / "predict.py").write_text("print('hi')\n")
    (model / "predict.py").chmod(0o755)
    (model / "modelpack.yaml").write_text("name: iris\nversion: '3.1'\nframework: scikit-learn\n")
    ref = registry.repo() + ":3.1"
    digest = mp.push(model, ref, options=PLAIN).descriptor.digest
    return ref, digest


def test_serving_image_is_built_without_a_daemon(registry: Registry, crane_bin: Path, model_ref: tuple[str, str],
                                                 tmp_path: Path) -> None:
    ref, model_digest = model_ref
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    image = registry.repo("images") + ":serve"
    # The tiny base stands for one that already has modelpack (serve/Dockerfile): no serving layer.
    built = modelpack("build-image", "--plain-http", "--json", ref, "-t", image, "--base", base, "--no-serving-layer",
                      "--trust-unverified-pickle")  # its model.joblib is what the image serves
    assert built.code == 0, built.err
    files = exported(crane_bin, image)
    assert files["models/model.joblib"][0] == (tmp_path / "model" / "model.joblib").read_bytes()
    assert files["models/tokenizer/vocab.json"][0] == b"{}"
    assert files["models/predict.py"][1] & 0o777 == 0o755
    assert files["etc/base-release"][0] == b"base amd64\n"  # the base's own files are kept
    assert "models/modelpack.yaml" not in files
    config = json.loads(crane(crane_bin, "config", image))
    assert config["config"]["Entrypoint"][:3] == ["modelpack", "serve", "/models"]
    assert config["config"]["Labels"]["io.modelpack.model.digest"] == model_digest
    assert config["config"]["Labels"]["base"] == "yes"
    assert "MODEL_DIR=/models" in config["config"]["Env"]
    manifest = json.loads(crane(crane_bin, "manifest", image))
    assert manifest["annotations"]["io.modelpack.model.digest"] == model_digest
    assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"])


def test_modelcar_on_a_multi_platform_base(registry: Registry, crane_bin: Path, model_ref: tuple[str, str]) -> None:
    ref, model_digest = model_ref
    base = registry.repo("base") + ":multi"
    push_base(base, ("amd64", "arm64"))
    image = registry.repo("images") + ":modelcar"
    built = modelpack("build-image", "--plain-http", "--modelcar", ref, "-t", image, "--base", base,
                      "--trust-unverified-pickle")  # its model.joblib is what KServe's sklearn runtime loads
    assert built.code == 0, built.err
    index = json.loads(crane(crane_bin, "manifest", image))
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]
    for arch in ("amd64", "arm64"):
        files = exported(crane_bin, image, f"linux/{arch}")
        assert files["etc/base-release"][0] == f"base {arch}\n".encode()
        assert "models/model.joblib" in files
        config = json.loads(crane(crane_bin, "config", image, "--platform", f"linux/{arch}"))
        assert config["config"]["Cmd"] == ["/bin/hello"]  # a modelcar keeps the base's command
        assert "Entrypoint" not in config["config"] or not config["config"]["Entrypoint"]
        assert config["config"]["Labels"]["io.modelpack.model.digest"] == model_digest


def test_docker_flag_without_an_engine_is_one_clear_line(model_ref: tuple[str, str], registry: Registry) -> None:
    result = modelpack("build-image", "--plain-http", "--docker", model_ref[0], "-t", registry.repo() + ":d",
                       "--base", registry.repo("base") + ":1", "--trust-unverified-pickle",
                       env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.code != 0 and result.err.startswith("error: ") and "Docker engine" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_kubernetes_yaml_is_pinned_by_digest(registry: Registry, model_ref: tuple[str, str]) -> None:
    ref, model_digest = model_ref
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    image = registry.repo("images") + ":serve"
    image_digest = json.loads(modelpack("build-image", "--plain-http", "--json", ref, "-t", image, "--base",
                                        base, "--no-serving-layer", "--trust-unverified-pickle").out)["digest"]

    deployment = list(yaml.safe_load_all(modelpack("k8s", "--plain-http", image).out))
    pod = deployment[0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == image.rsplit(":", 1)[0] + "@" + image_digest
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert deployment[1]["kind"] == "Service"

    modelcar = registry.repo("images") + ":car"
    car_digest = json.loads(modelpack("build-image", "--plain-http", "--json", "--modelcar", ref, "-t", modelcar,
                                      "--base", base, "--trust-unverified-pickle").out)["digest"]
    refused = modelpack("k8s", "--plain-http", "--kind", "kserve", modelcar)  # its /models holds a pickle
    assert refused.code == 2 and "pickle" in refused.err and refused.out == "", refused.err
    kserve = yaml.safe_load(modelpack("k8s", "--plain-http", "--kind", "kserve", modelcar,
                                      "--trust-unverified-pickle").out)
    model = kserve["spec"]["predictor"]["model"]
    assert model["storageUri"] == "oci://" + modelcar.rsplit(":", 1)[0] + "@" + car_digest  # KServe modelcars
    assert model["modelFormat"]["name"] == "sklearn"

    volume = list(yaml.safe_load_all(modelpack("k8s", "--plain-http", "--kind", "image-volume",
                                               "--serving-image", image, ref, "--trust-unverified-pickle").out))
    spec = volume[0]["spec"]["template"]["spec"]
    assert spec["volumes"][0]["image"]["reference"] == ref.rsplit(":", 1)[0] + "@" + model_digest
    assert spec["containers"][0]["image"].endswith("@" + image_digest)
    assert spec["containers"][0]["volumeMounts"][0]["mountPath"] == "/models"


def test_image_volume_warns_about_folders_packed_as_one_tar(registry: Registry, tmp_path: Path) -> None:
    """CRI-O mounts an image volume's layers as they are: `k8s --kind image-volume` names the folders it
    would show as single tar files; a model of per-file layers gets no warning."""
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    quiet = None
    for archived in (True, False):
        model = tmp_path / f"m{archived}"
        (model / "tokenizer").mkdir(parents=True)
        (model / "tokenizer" / "vocab.json").write_text("{}")
        (model / "w.safetensors").write_bytes(b"w" * 100)
        (model / "modelpack.yaml").write_text("name: vol\n" + ("files: {archives: [tokenizer]}\n" if archived else ""))
        ref = registry.repo() + ":v"
        mp.push(model, ref, options=PLAIN)
        run = modelpack("k8s", "--plain-http", "--kind", "image-volume", "--serving-image", base, ref)
        assert run.code == 0, run.err
        if archived:
            assert "tokenizer" in run.err and "single files" in run.err, run.err
        else:
            quiet = run.err
    assert quiet is not None and "single files" not in quiet


@pytest.mark.interop
def test_image_volume_does_not_warn_about_files_oras_pushed(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    """`oras push` gives a plain file the media type `application/vnd.oci.image.layer.v1.tar`, though it is
    no tar: an image volume mounts it as the file it is (by its title), so there is nothing to warn of."""
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")
    ref = registry.repo() + ":v"
    subprocess.run([str(oras_bin), "push", "--plain-http", ref, "model.onnx"], cwd=tmp_path, check=True,
                   capture_output=True)
    run = modelpack("k8s", "--plain-http", "--kind", "image-volume", "--serving-image", base, ref)
    assert run.code == 0 and "single files" not in run.err, run.err
