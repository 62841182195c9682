"""A container image is not a model: pull, pull -o and unpack refuse it from its manifest alone, before
any blob is fetched (checked on the wire); inspect of an index lists its children."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import modelpack
from images import push_image
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Index, Platform
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


def crane_image(crane_bin: Path, ref: str, tmp_path: Path) -> None:
    """A real one-layer image from crane (an empty base plus a tarball)."""
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("etc/hello")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    proc = subprocess.run([str(crane_bin), "append", "--insecure", "--oci-empty-base", "-f", str(layer), "-t", ref],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def push_index(ref: str, children: list[Descriptor]) -> Descriptor:
    data = Index(manifests=children).canonical_bytes()
    desc = Descriptor(mediaType="application/vnd.oci.image.index.v1+json", digest=digests.of_bytes(data),
                      size=len(data))
    mp.remote(mp.Reference.parse(ref), PLAIN).put_manifest(desc, data, mp.Reference.parse(ref).tag)
    return desc


def refused(run: object, ref: str) -> None:
    assert run.code == 2, run.err  # type: ignore[attr-defined]
    err: str = run.err  # type: ignore[attr-defined]
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{ref} is a container image" in err and "crane export" in err and "build-image" in err


@pytest.mark.parametrize("how", [(), ("-o", "OUT"), ("-o", "OUT", "--keep")])
def test_pulling_an_image_is_refused_before_any_blob_is_fetched(proxy: FaultProxy, crane_bin: Path, tmp_path: Path,
                                                               how: tuple[str, ...]) -> None:
    ref = f"{proxy.host}/img/{uuid.uuid4().hex[:8]}:1"
    crane_image(crane_bin, ref, tmp_path)
    proxy.clear()
    out = tmp_path / "out"
    run = modelpack("pull", "--plain-http", ref, *(str(out) if arg == "OUT" else arg for arg in how))
    refused(run, ref)
    assert proxy.requests("GET", "/blobs/") == [] and proxy.requests("HEAD", "/blobs/") == []
    assert proxy.requests("GET", "/manifests/")  # the manifest alone was read
    assert not out.exists() or not any(out.iterdir())
    assert mp.list_models() == []


def test_an_index_of_images_is_refused_and_inspect_lists_its_children(proxy: FaultProxy, registry: Registry,
                                                                      tmp_path: Path) -> None:
    repo = f"{proxy.host}/multi/{uuid.uuid4().hex[:8]}"
    amd = push_image(repo + ":amd64")
    arm = push_image(repo + ":arm64", {"architecture": "arm64", "os": "linux", "rootfs": {"type": "layers",
                                                                                        "diff_ids": []}})
    children = [Descriptor(mediaType=amd.media_type, digest=amd.digest, size=amd.size,
                           platform=Platform(architecture="amd64", os="linux")),
                Descriptor(mediaType=arm.media_type, digest=arm.digest, size=arm.size,
                           platform=Platform(architecture="arm64", os="linux", variant="v8"))]
    push_index(repo + ":multi", children)
    proxy.clear()
    run = modelpack("pull", "--plain-http", repo + ":multi", "-o", str(tmp_path / "out"))
    assert run.code == 2 and "is an index of container images (linux/amd64, linux/arm64/v8)" in run.err, run.err
    assert proxy.requests("GET", "/blobs/") == []

    shown = modelpack("inspect", "--remote", "--plain-http", repo + ":multi")
    assert shown.code == 0, shown.err
    assert "Artifact type" not in shown.out and "None" not in shown.out
    assert "Index of 2 manifests:" in shown.out
    lines = [line for line in shown.out.splitlines() if "application/vnd.oci.image.config.v1+json" in line]
    assert len(lines) == 2 and "linux/amd64" in lines[0] and "linux/arm64/v8" in lines[1]
    assert amd.digest[:19] in lines[0] and arm.digest[:19] in lines[1]
    info = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", repo + ":multi").out)
    assert [(c["platform"], c["artifactType"], c["digest"]) for c in info["children"]] == [
        ("linux/amd64", "application/vnd.oci.image.config.v1+json", amd.digest),
        ("linux/arm64/v8", "application/vnd.oci.image.config.v1+json", arm.digest)]


def test_unpacking_an_image_from_the_store_is_refused(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo("img") + ":1"
    push_image(ref)
    copied = modelpack("copy", "--plain-http", ref, ref, "--to-local")
    assert copied.code == 0, copied.err
    out = tmp_path / "out"
    run = modelpack("unpack", ref, "-o", str(out))
    refused(run, ref)
    assert not out.exists() or not any(out.iterdir())


def test_a_model_is_still_pulled(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.onnx").write_bytes(b"onnx" * 10)
    ref = registry.repo() + ":1"
    mp.push(model, ref, options=PLAIN)
    assert modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out")).code == 0
    assert (tmp_path / "out" / "model.onnx").read_bytes() == b"onnx" * 10


def test_inspect_says_an_image_is_a_container_image_not_an_oras_artifact(registry: Registry, crane_bin: Path,
                                                                          pushed: tuple[str, str],
                                                                          tmp_path: Path) -> None:
    # `build-image`'s images and their bases read "Written by: oras" (in `inspect` and the UI's version page).
    ref = registry.repo("img") + ":1"
    crane_image(crane_bin, ref, tmp_path)
    shown = modelpack("inspect", "--remote", "--plain-http", ref)
    assert shown.code == 0 and "Written by:    container-image\n" in shown.out, shown.err
    assert json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", ref).out)[
        "artifactFormat"] == "container-image"

    # A cosign `.sig` manifest has an image config too, over a JSON payload: not an image.
    tag_ref, digest_ref = pushed
    keys = modelpack("generate-key-pair", cwd=tmp_path, env={"COSIGN_PASSWORD": "pw"})
    assert keys.code == 0, keys.err
    signed = modelpack("sign", "--plain-http", "--signature-format", "simple-signing", "--key",
                       str(tmp_path / "cosign.key"), tag_ref, env={"COSIGN_PASSWORD": "pw"})
    assert signed.code == 0, signed.err
    sig_tag = digest_ref.split("@")[0] + ":" + digest_ref.split("@")[1].replace(":", "-") + ".sig"
    sig = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", sig_tag).out)
    assert sig["artifactFormat"] == "oras"
