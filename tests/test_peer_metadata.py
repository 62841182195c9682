"""Peers' metadata, read from artifacts their own tools (or the oras CLI, in their layout) pushed to a real
registry: omlmd's name, description and metrics; a KitOps Kitfile annotation; a modctl Modelfile; and
hostile annotations that are ignored with a warning, never a failure."""

from __future__ import annotations

import io
import json
import subprocess
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


def omlmd_push(ref: str, folder: Path, monkeypatch: pytest.MonkeyPatch, **metadata: object) -> None:
    """omlmd's own push. It writes its metadata files beside the model and takes paths relative to the
    working directory only, so one folder per push, worked in."""
    from omlmd.helpers import Helper

    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"onnx" * 100)
    with monkeypatch.context() as patch:
        patch.chdir(folder)
        Helper().push(ref, "model.onnx", **metadata)


def oras(oras_bin: Path, *args: str, cwd: Path) -> None:
    proc = subprocess.run([str(oras_bin), *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert proc.returncode == 0, proc.stderr


def push_manifest(ref: str, annotations: dict[str, str], config_type: str = "application/vnd.oci.empty.v1+json",
                  config: bytes = b"{}") -> None:
    """A one-layer artifact with the given manifest annotations, as a hostile registry might serve it."""
    target = mp.remote(mp.Reference.parse(ref), PLAIN)
    layer = b"weights"
    layer_desc = Descriptor(mediaType="application/octet-stream", digest=digests.of_bytes(layer), size=len(layer),
                            annotations={"org.opencontainers.image.title": "model.bin"})
    config_desc = Descriptor(mediaType=config_type, digest=digests.of_bytes(config), size=len(config))
    for desc, blob in ((layer_desc, layer), (config_desc, config)):
        target.push_blob(desc, lambda blob=blob: io.BytesIO(blob))
    data = Manifest(config=config_desc, layers=[layer_desc], annotations=annotations).canonical_bytes()
    desc = Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json", digest=digests.of_bytes(data),
                      size=len(data))
    target.put_manifest(desc, data, mp.Reference.parse(ref).tag)


def test_omlmd_metrics_filter_ls_and_its_name_shows_in_inspect(registry: Registry, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    repo = registry.repo("omlmd")
    omlmd_push(repo + ":good", tmp_path / "a", monkeypatch, name="iris-omlmd", description="an omlmd model",
               author="Ada", accuracy=0.93, stage="prod")
    omlmd_push(repo + ":weak", tmp_path / "b", monkeypatch, name="iris-omlmd", description="older", author="Ada",
               accuracy=0.5)

    listed = modelpack("ls", "--plain-http", "--json", "--where", "metrics.accuracy>=0.9", repo)
    assert listed.code == 0, listed.err
    versions = json.loads(listed.out)
    assert [v["tag"] for v in versions] == ["good"] and versions[0]["metrics"] == {"accuracy": 0.93}
    ranked = json.loads(modelpack("ls", "--plain-http", "--json", "--sort", "-metrics.accuracy", repo).out)
    assert [v["tag"] for v in ranked] == ["good", "weak"]

    info = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", repo + ":good").out)
    assert info["artifactFormat"] == "omlmd"
    meta = info["metadata"]
    assert (meta["name"], meta["description"], meta["authors"]) == ("iris-omlmd", "an omlmd model", ["Ada"])
    assert meta["labels"] == {"stage": "prod"}
    shown = modelpack("inspect", "--remote", "--plain-http", repo + ":good").out
    assert "Written by:    omlmd" in shown and "iris-omlmd" in shown

    changes = json.loads(modelpack("diff", "--remote", "--plain-http", "--json", repo + ":weak", repo + ":good").out)
    assert changes["metrics"]["accuracy"] == {"old": 0.5, "new": 0.93}


def test_kitfile_annotation_version_shows_in_inspect_and_ls(registry: Registry, oras_bin: Path,
                                                             tmp_path: Path) -> None:
    # As `kit pack --use-model-pack` writes: a ModelPack artifact whose Kitfile rides in an annotation.
    work = tmp_path / "kit"
    work.mkdir()
    (work / "model.bin").write_bytes(b"\x01" * 4096)
    (work / "config.json").write_text(json.dumps({"descriptor": {}, "config": {"format": "pytorch"},
                                                  "modelfs": {"type": "layers", "diffIds": []}}))
    kitfile = {"manifestVersion": "1.0.0",
               "package": {"name": "kit-demo", "version": "3.1.4", "authors": ["Ada"], "license": "Apache-2.0"},
               "model": {"name": "demo", "path": "model.bin", "parameters": {"lr": 0.01}}}
    (work / "annotations.json").write_text(json.dumps({"$manifest": {"ml.kitops.modelkit.kitfile": json.dumps(kitfile)},
                                                       "model.bin": {"org.cncf.model.filepath": "model.bin"}}))
    ref = registry.repo("kit") + ":v3"
    oras(oras_bin, "push", "--plain-http", ref, "--artifact-type", "application/vnd.cncf.model.manifest.v1+json",
         "--config", "config.json:application/vnd.cncf.model.config.v1+json", "--annotation-file",
         "annotations.json", "model.bin:application/vnd.cncf.model.weight.v1.raw", cwd=work)

    info = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", ref).out)
    meta = info["metadata"]
    assert info["artifactFormat"] == "modelpack" and meta["format"] == "pytorch"
    assert (meta["name"], meta["version"], meta["licenses"]) == ("kit-demo", "3.1.4", ["Apache-2.0"])
    assert meta["hyperparameters"] == {"lr": 0.01}
    assert "3.1.4" in modelpack("inspect", "--remote", "--plain-http", ref).out
    listed = json.loads(modelpack("ls", "--plain-http", "--json", ref.rsplit(":", 1)[0]).out)
    assert listed[0]["version"] == "3.1.4"


def test_modctl_modelfile_annotation_is_read(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    work = tmp_path / "modctl"
    work.mkdir()
    (work / "w.safetensors").write_bytes(b"weights" * 100)
    (work / "config.json").write_text(json.dumps({"descriptor": {}, "config": {},
                                                  "modelfs": {"type": "layers", "diffIds": []}}))
    modelfile = "# Generated at 2025-01-01T00:00:00Z\n\n# Model name\nNAME gemma-2b\nARCH transformer\n" \
                "FAMILY gemma\nPARAMSIZE 2B\nMODEL *.safetensors\n"
    (work / "annotations.json").write_text(json.dumps({"$manifest": {"org.cncf.modctl.modelfile": modelfile},
                                                       "w.safetensors": {"org.cnai.model.filepath": "w.safetensors"}}))
    ref = registry.repo("modctl") + ":2b"
    oras(oras_bin, "push", "--plain-http", ref, "--artifact-type", "application/vnd.cnai.model.manifest.v1+json",
         "--config", "config.json:application/vnd.cnai.model.config.v1+json", "--annotation-file",
         "annotations.json", "w.safetensors:application/vnd.cnai.model.weight.v1.raw", cwd=work)

    listed = json.loads(modelpack("ls", "--plain-http", "--json", "--where", "family=gemma",
                                  ref.rsplit(":", 1)[0]).out)
    assert [v["tag"] for v in listed] == ["2b"]
    meta = listed[0]["metadata"]
    assert (meta["name"], meta["architecture"], meta["paramSize"]) == ("gemma-2b", "transformer", "2B")
    info = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", ref).out)
    assert info["artifactFormat"] == "cnai" and info["metadata"]["name"] == "gemma-2b"


@pytest.mark.parametrize("key,raw", [
    ("ml.kitops.modelkit.kitfile", "{" * 300_000),
    ("ml.kitops.modelkit.kitfile", "not json at all"),
    ("customProperties+json", "not json"),
    ("customProperties+json", "[0.9, 0.8]"),
])
def test_hostile_peer_annotations_are_ignored_with_a_warning(registry: Registry, key: str, raw: str) -> None:
    repo = registry.repo("hostile")
    push_manifest(repo + ":bad", {key: raw, "name": "\x1b]0;owned\x07m"}, config_type="application/x-config")
    listed = modelpack("ls", "--plain-http", "--json", repo)
    assert listed.code == 0, listed.err
    assert f"ignored its malformed {key} annotation" in listed.err
    version = json.loads(listed.out)[0]
    assert version["metrics"] == {} and "version" not in version["metadata"]
    shown = modelpack("inspect", "--remote", "--plain-http", repo + ":bad")
    assert shown.code == 0 and "\x1b" not in shown.out and "\\x1b]0;owned\\x07m" in shown.out
