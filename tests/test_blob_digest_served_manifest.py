"""The first 500 for a manifest by digest asks whether that digest is a blob of the repository and, if so,
stops retrying (a layer's digest named as a model: see test_blob_digest). Distribution answers 404 for a
manifest's digest asked as a blob, but a registry that keeps manifests in its blob store may serve their
bytes there too: a transient 500 for a real manifest was then final (exit 3, "it is the digest of a blob").
The blob's first bytes are read now, and a blob that could be this manifest keeps the request retried.
The registry is real; the proxy in front of it plays the other registry (a 500 once, the manifest as a blob)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import modelpack, tree
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
UNKNOWN = b'{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":null}]}'


@pytest.mark.parametrize("files", [1, 40])  # a manifest served whole (200), one of ~20 KB served in part (206)
def test_a_manifest_also_served_as_a_blob_is_retried_after_a_500(registry: Registry, proxy: FaultProxy,
                                                                  tmp_path: Path, files: int) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for i in range(files):
        (folder / f"part-{i:03d}.bin").write_bytes(os.urandom(1000 + i))
    repo = registry.repo("served-as-blob")
    digest = mp.push(folder, f"{repo}:1", options=PLAIN).descriptor.digest
    path = repo.split("/", 1)[1]
    manifest = requests.get(f"{registry.url}/v2/{path}/manifests/{digest}", timeout=30,
                            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).content
    assert (len(manifest) < 4096) == (files == 1)
    served = {"status": 200, "body": manifest} if files == 1 else {
        "status": 206, "body": manifest[:4096], "headers": {"Content-Range": f"bytes 0-4095/{len(manifest)}"}}
    as_blob = Fault(f"GET /v2/{path}/blobs/{digest}", times=10, **served)  # type: ignore[arg-type]
    head = Fault(f"HEAD /v2/{path}/blobs/{digest}", times=10, status=200, body=manifest)  # (its length, no body)
    proxy.faults[:] = [Fault(f"GET /v2/{path}/manifests/{digest}", times=1, status=500, body=UNKNOWN), as_blob,
                       head]
    run = modelpack("pull", "--plain-http", f"{proxy.host}/{path}@{digest}", "-o", str(tmp_path / "out"))
    assert run.code == 0, run.err
    assert tree(tmp_path / "out") == tree(folder)
    assert as_blob.taken or head.taken, "the blob was not asked about"
    assert len(proxy.requests("GET", f"/manifests/{digest}")) == 2  # the 500, then the manifest


def test_a_json_layer_of_more_than_a_peek_is_still_said_at_once(registry: Registry, tmp_path: Path) -> None:
    """A layer whose bytes are JSON (a config.json of 10 KB, its first keys no manifest has) read in part
    is no manifest: Distribution's 500 for it is not retried, and the line says it is a blob's digest."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": ["X"], "vocab": "' + "a" * 10_000 + '"}')
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    repo = registry.repo("json-layer")
    digest = mp.push(folder, f"{repo}:1", options=PLAIN).descriptor.digest
    layers = mp.inspect(f"{repo}@{digest}", remote_only=True, options=PLAIN).manifest.layers  # type: ignore[union-attr]
    config_json = next(layer for layer in layers if layer.size > 10_000)
    run = modelpack("resolve", "--plain-http", f"{repo}@{config_json.digest}")
    assert run.code == 3, run.err
    assert "it is the digest of a blob" in run.err
    uri = f'http.request.uri="/v2/{repo.split("/", 1)[1]}/manifests/{config_json.digest}"'
    assert sum(1 for line in registry.log().splitlines() if 'msg="response completed' in line and uri in line) == 1
