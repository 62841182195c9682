"""Interoperability with the oras Go CLI, both directions, and the format rules of model-spec v1."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

import modelpack as mp
from helpers import make_tricky_model, modelpack, tree
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
SCHEMA = Path(__file__).parent / "unit" / "data" / "model-spec-config-schema.json"
LAYER_TYPES = {f"application/vnd.cncf.model.{k}.v1.{p}" for k in ("weight", "weight.config", "doc", "code", "dataset")
               for p in ("raw", "tar")}

pytestmark = pytest.mark.interop


def oras(oras_bin: Path, *args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run([str(oras_bin), *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_oras_reads_our_artifact(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    model = make_tricky_model(tmp_path / "model")
    ref = registry.repo() + ":v1"
    pushed = mp.push(model, ref, options=PLAIN)

    raw = oras(oras_bin, "manifest", "fetch", "--plain-http", ref)
    manifest = json.loads(raw)
    assert "sha256:" + __import__("hashlib").sha256(raw.encode()).hexdigest() == pushed.descriptor.digest
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json"
    for layer in manifest["layers"]:
        assert layer["mediaType"] in LAYER_TYPES
        ann = layer["annotations"]
        assert ann["org.cncf.model.filepath"] == ann["org.opencontainers.image.title"]
        meta = json.loads(ann["org.cncf.model.file.metadata+json"])
        assert set(meta) == {"name", "mode", "uid", "gid", "size", "mtime", "typeflag"}
        assert meta["size"] == layer["size"]
    assert manifest["annotations"]["org.opencontainers.image.title"] == "tricky"

    # The config blob validates against model-spec's own JSON schema.
    config = json.loads(oras(oras_bin, "blob", "fetch", "--plain-http", "--output", "-",
                             f"{ref.rsplit(':', 1)[0]}@{manifest['config']['digest']}"))
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(config)
    assert config["modelfs"]["diffIds"] == [layer["digest"] for layer in manifest["layers"]]
    assert config["descriptor"]["name"] == "tricky"

    # oras pull restores every file by its title (modes are ours to restore, not oras's).
    out = tmp_path / "oras-out"
    out.mkdir()
    oras(oras_bin, "pull", "--plain-http", ref, cwd=out)
    assert {k: v[0] for k, v in tree(out).items()} == {k: v[0] for k, v in tree(model).items()}


def test_we_read_what_oras_pushed(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "tokenizer").mkdir(parents=True)
    (src / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (src / "weights.bin").write_bytes(b"\x00\x01" * 5000)
    (src / "notes.md").write_text("hello")
    ref = registry.repo() + ":oras"
    oras(oras_bin, "push", "--plain-http", ref, "weights.bin", "notes.md:text/markdown", "tokenizer/", cwd=src)

    out = tmp_path / "ours"
    result = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert result.code == 0, result.err
    assert {k: v[0] for k, v in tree(out, skip=()).items()} == {k: v[0] for k, v in tree(src, skip=()).items()}
    info = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", ref).out)
    assert {layer["path"] for layer in info["layers"]} == {"weights.bin", "notes.md", "tokenizer"}


def _tokenizer_model(model: Path, files: str) -> Path:
    """A weight file and a tokenizer folder (with a subfolder), packed with `files: {<files>}`."""
    (model / "tokenizer" / "sub").mkdir(parents=True)
    (model / "tokenizer" / "vocab.json").write_text('{"a": 1}')
    (model / "tokenizer" / "sub" / "merges.txt").write_text("a b")
    (model / "w.safetensors").write_bytes(b"w" * 1000)
    (model / "modelpack.yaml").write_text(f"name: arch\nfiles: {{{files}}}\n")
    return model


def test_archive_folder_layer_is_a_reproducible_tar(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    model = _tokenizer_model(tmp_path / "m", "archives: [tokenizer]")
    ref = registry.repo() + ":a"
    mp.push(model, ref, options=PLAIN)
    manifest = json.loads(oras(oras_bin, "manifest", "fetch", "--plain-http", ref))
    kinds = {layer["annotations"]["org.cncf.model.filepath"]: layer["mediaType"] for layer in manifest["layers"]}
    assert kinds == {"tokenizer": "application/vnd.cncf.model.weight.config.v1.tar",
                     "w.safetensors": "application/vnd.cncf.model.weight.v1.raw"}
    out = tmp_path / "out"
    assert modelpack("pull", "--plain-http", ref, "-o", str(out)).code == 0
    assert tree(out) == tree(model)


def test_skopeo_copies_our_artifact_faithfully(registry: Registry, tmp_path: Path) -> None:
    import shutil

    from conftest import missing

    if shutil.which("skopeo") is None:
        missing("skopeo not installed (apt-get install skopeo)")
    model = make_tricky_model(tmp_path / "model")
    src = registry.repo() + ":v1"
    digest = mp.push(model, src, options=PLAIN).descriptor.digest
    layout = tmp_path / "layout"
    dst = registry.repo("copied") + ":v1"
    for target in (f"oci:{layout}:m", f"docker://{dst}"):
        proc = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                               f"docker://{src}", target], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest  # byte-identical manifest, so the same digest
    manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())
    for layer in manifest["layers"]:
        blob = (layout / "blobs" / "sha256" / layer["digest"].split(":")[1]).read_bytes()
        assert "sha256:" + __import__("hashlib").sha256(blob).hexdigest() == layer["digest"]
    out = tmp_path / "out"
    assert modelpack("pull", "--plain-http", dst, "-o", str(out)).code == 0
    assert tree(out) == tree(model)


def test_oras_pull_unpacks_a_gzip_archive_folder(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    """A `files.archives` folder packed with `compress: gzip` carries what oras pull needs to unpack it
    (io.deis.oras.content.unpack and the tar's digest): oras restores the folder, not one tar file."""
    model = _tokenizer_model(tmp_path / "m", "archives: [tokenizer], compress: gzip")
    ref = registry.repo() + ":gz"
    mp.push(model, ref, options=PLAIN)
    manifest = json.loads(oras(oras_bin, "manifest", "fetch", "--plain-http", ref))
    folder = next(layer for layer in manifest["layers"]
                  if layer["annotations"]["org.cncf.model.filepath"] == "tokenizer")
    assert folder["mediaType"] == "application/vnd.cncf.model.weight.config.v1.tar+gzip"
    assert folder["annotations"]["io.deis.oras.content.unpack"] == "true"
    out = tmp_path / "oras-out"
    out.mkdir()
    oras(oras_bin, "pull", "--plain-http", ref, cwd=out)
    assert (out / "tokenizer" / "vocab.json").read_text() == '{"a": 1}'
    assert (out / "tokenizer" / "sub" / "merges.txt").read_text() == "a b"
    assert (out / "w.safetensors").read_bytes() == b"w" * 1000
    mine = tmp_path / "mine"
    assert modelpack("pull", "--plain-http", ref, "-o", str(mine)).code == 0
    assert (mine / "tokenizer" / "sub" / "merges.txt").read_text() == "a b"
