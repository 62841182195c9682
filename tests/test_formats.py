"""Artifacts other tools make, built here with the oras Go CLI: a KitOps ModelKit, a legacy ModelPack
(`cnai`) artifact; and a Docker model artifact built with raw registry calls (its layers name no file)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
pytestmark = pytest.mark.interop


def oras(oras_bin: Path, *args: str, cwd: Path) -> None:
    proc = subprocess.run([str(oras_bin), *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert proc.returncode == 0, proc.stderr


def _tar(path: Path, files: dict[str, bytes], gzip: bool = False) -> None:
    with tarfile.open(path, "w:gz" if gzip else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_kitops_modelkit_is_inspected_and_pulled(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    work = tmp_path / "kit"
    work.mkdir()
    kitfile = {"manifestVersion": "1.0",
               "package": {"name": "kit-demo", "version": "2.0.0", "authors": ["Ada"], "license": "MIT",
                           "description": "a ModelKit"},
               "model": {"name": "demo", "path": "model.bin", "framework": "pytorch", "parameters": {"lr": 0.1}},
               "datasets": [{"name": "train", "path": "data/train.csv"}]}
    (work / "Kitfile.json").write_text(json.dumps(kitfile))
    _tar(work / "model.tar", {"model.bin": b"\x01" * 4096})
    _tar(work / "data.tgz", {"data/train.csv": b"a,b\n1,2\n"}, gzip=True)
    ref = registry.repo() + ":kit"
    oras(oras_bin, "push", "--plain-http", ref,
         "--config", "Kitfile.json:application/vnd.kitops.modelkit.config.v1+json",
         "model.tar:application/vnd.kitops.modelkit.model.v1.tar",
         "data.tgz:application/vnd.kitops.modelkit.dataset.v1.tar+gzip", cwd=work)

    info = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", ref).out)
    assert info["metadata"]["name"] == "kit-demo"
    assert info["metadata"]["framework"] == "pytorch"
    assert info["metadata"]["hyperparameters"] == {"lr": 0.1}
    assert [layer["kind"] for layer in info["layers"]] == ["weight", "dataset"]
    out = tmp_path / "out"
    pulled = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert pulled.code == 0, pulled.err
    assert (out / "model.bin").read_bytes() == b"\x01" * 4096
    assert (out / "data" / "train.csv").read_bytes() == b"a,b\n1,2\n"
    listed = json.loads(modelpack("ls", "--plain-http", "--json", ref.rsplit(":", 1)[0]).out)
    assert listed[0]["tag"] == "kit"


def test_legacy_cnai_artifact_is_inspected_and_pulled(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    work = tmp_path / "cnai"
    work.mkdir()
    config = {"descriptor": {"name": "old-model", "version": "0.9"}, "config": {"format": "safetensors"},
              "modelfs": {"type": "layers", "diffIds": ["sha256:" + "0" * 64]}}
    (work / "config.json").write_text(json.dumps(config))
    (work / "w.safetensors").write_bytes(b"weights" * 100)
    (work / "annotations.json").write_text(json.dumps(
        {"w.safetensors": {"org.cnai.model.filepath": "weights/w.safetensors"}}))
    ref = registry.repo() + ":old"
    oras(oras_bin, "push", "--plain-http", ref, "--artifact-type", "application/vnd.cnai.model.manifest.v1+json",
         "--config", "config.json:application/vnd.cnai.model.config.v1+json", "--annotation-file", "annotations.json",
         "w.safetensors:application/vnd.cnai.model.weight.v1.raw", cwd=work)
    info = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", ref).out)
    assert info["metadata"]["name"] == "old-model" and info["metadata"]["format"] == "safetensors"
    assert info["layers"][0]["kind"] == "weight" and info["layers"][0]["path"] == "weights/w.safetensors"
    out = tmp_path / "out"
    assert modelpack("pull", "--plain-http", ref, "-o", str(out)).code == 0
    assert (out / "weights" / "w.safetensors").read_bytes() == b"weights" * 100


def test_docker_model_artifact_gets_the_file_names_docker_uses(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":gguf"
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    config = json.dumps({"config": {"format": "gguf", "quantization": "Q4_K_M", "parameters": "1.2B"},
                         "descriptor": {"created": "2025-01-01T00:00:00Z"}}).encode()
    gguf, license_text = b"GGUF" + b"\x00" * 100, b"Apache-2.0"
    blobs = {
        "config": (Descriptor(mediaType="application/vnd.docker.ai.model.config.v0.1+json",
                              digest=digests.of_bytes(config), size=len(config)), config),
        "gguf": (Descriptor(mediaType="application/vnd.docker.ai.gguf.v3", digest=digests.of_bytes(gguf),
                            size=len(gguf)), gguf),
        "license": (Descriptor(mediaType="application/vnd.docker.ai.license", digest=digests.of_bytes(license_text),
                               size=len(license_text)), license_text),
    }
    for desc, data in blobs.values():
        repo.push_blob(desc, lambda data=data: io.BytesIO(data))
    manifest = Manifest(config=blobs["config"][0], layers=[blobs["gguf"][0], blobs["license"][0]]).canonical_bytes()
    repo.put_manifest(Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json",
                                 digest=digests.of_bytes(manifest), size=len(manifest)), manifest, "gguf")
    info = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", ref).out)
    assert info["metadata"]["quantization"] == "Q4_K_M" and info["metadata"]["paramSize"] == "1.2B"
    out = tmp_path / "out"
    assert modelpack("pull", "--plain-http", ref, "-o", str(out)).code == 0
    assert (out / "model.gguf").read_bytes() == gguf and (out / "LICENSE").read_bytes() == license_text
