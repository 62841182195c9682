"""Pack, push, pull and inspect against a real Distribution registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

import modelpack as mp
from helpers import make_tricky_model, modelpack, tree
from modelpack.errors import IntegrityError, NotFoundError
from modelpack.oci import digest as digests
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions
from modelpack.store.receive import THREADED_HASH_MIN_BYTES
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


def test_tricky_model_round_trips_by_digest_into_an_empty_store(registry: Registry, tmp_path: Path) -> None:
    model = make_tricky_model(tmp_path / "model")
    ref = registry.repo() + ":v1"
    pushed = modelpack("push", "--plain-http", str(model), ref)
    assert pushed.code == 0, pushed.err
    digest_ref = pushed.out.strip()
    assert "@sha256:" in digest_ref

    other_home = tmp_path / "other-machine"
    out = tmp_path / "restored"
    pulled = modelpack("pull", "--plain-http", digest_ref, "-o", str(out), env={"MODELPACK_HOME": str(other_home)})
    assert pulled.code == 0, pulled.err
    assert tree(out) == tree(model)
    assert (out / "run model.sh").stat().st_mode & 0o111
    assert (out / "empty.txt").stat().st_size == 0
    # The files are all -o wrote: the store keeps no second copy of the weights...
    listed = json.loads(modelpack("list", "--json", env={"MODELPACK_HOME": str(other_home)}).out)
    assert listed == [] and not list((other_home / "blobs").rglob("*/*"))
    # ...unless --keep asks for one: the model then lands in the store, under the digest reference.
    kept = modelpack("pull", "--plain-http", digest_ref, "-o", str(tmp_path / "kept"), "--keep",
                     env={"MODELPACK_HOME": str(other_home)})
    assert kept.code == 0, kept.err
    assert tree(tmp_path / "kept") == tree(model)
    listed = json.loads(modelpack("list", "--json", env={"MODELPACK_HOME": str(other_home)}).out)
    assert [m["digest"] for m in listed] == [digest_ref.split("@")[1]]


def test_pack_then_push_from_store_then_pull_by_tag(registry: Registry, tmp_path: Path) -> None:
    model = make_tricky_model(tmp_path / "model")
    ref = registry.repo() + ":1.0"
    packed = mp.pack(model, ref)
    pushed = mp.push(ref, options=PLAIN)
    assert pushed.descriptor.digest == packed.descriptor.digest
    assert pushed.copied == len(packed.model.layers) + 1  # layers + config

    # Push again: everything already there.
    again = mp.push(ref, options=PLAIN)
    assert again.copied == 0 and again.skipped == pushed.copied

    store_b = LayoutStore(tmp_path / "store-b")
    pulled = mp.pull(ref, output=tmp_path / "out", options=PLAIN, store=store_b)
    assert pulled.descriptor.digest == packed.descriptor.digest
    assert tree(tmp_path / "out") == tree(model)


def test_pull_into_store_then_unpack(registry: Registry, tmp_path: Path) -> None:
    model = make_tricky_model(tmp_path / "model")
    ref = registry.repo() + ":x"
    mp.push(model, ref, options=PLAIN)
    mp.pull(ref, options=PLAIN)
    result = modelpack("unpack", ref, "-o", str(tmp_path / "u"))
    assert result.code == 0, result.err
    assert tree(tmp_path / "u") == tree(model)


def test_inspect_remote_reads_only_manifest_and_config(registry: Registry, tmp_path: Path) -> None:
    model = make_tricky_model(tmp_path / "model")
    ref = registry.repo() + ":meta"
    pushed = mp.push(model, ref, ["metrics.f1=0.75", "labels.stage=prod"], options=PLAIN)
    for name in (ref, ref.rsplit(":", 1)[0] + "@" + pushed.descriptor.digest):
        result = modelpack("inspect", "--remote", "--plain-http", "--json", name)
        assert result.code == 0, result.err
        info = json.loads(result.out)
        assert info["digest"] == pushed.descriptor.digest
        assert info["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
        assert info["metadata"]["name"] == "tricky"
        assert info["metadata"]["version"] == "2.0"
        assert info["metadata"]["metrics"] == {"accuracy": 0.5, "f1": 0.75}
        assert info["metadata"]["labels"] == {"stage": "prod"}
        assert info["annotations"]["io.modelpack.model.metrics+json"] == '{"accuracy":0.5,"f1":0.75}'
        paths = {layer["path"]: layer for layer in info["layers"]}
        assert paths["weights/model part 1.safetensors"]["kind"] == "weight"
        assert paths["config.json"]["kind"] == "weight.config"
        assert paths["README.md"]["kind"] == "doc"
        assert paths["run model.sh"]["kind"] == "code"
    # Nothing was stored locally by a remote inspect.
    assert mp.list_models() == []


def test_local_inspect_list_tag_rm(tmp_path: Path) -> None:
    model = make_tricky_model(tmp_path / "model")
    packed = mp.pack(model, "example.com/team/tricky:1")
    info = mp.inspect("example.com/team/tricky:1").to_json()
    assert info["digest"] == packed.descriptor.digest
    mp.tag("example.com/team/tricky:1", "example.com/team/tricky:prod")
    refs = sorted(m.reference for m in mp.list_models())
    assert refs == ["example.com/team/tricky:1", "example.com/team/tricky:prod"]
    store = LayoutStore()
    blob = store.blob_path(packed.model.layers[0].descriptor.digest)
    mp.remove("example.com/team/tricky:1")
    assert blob.exists(), "still referenced by :prod"
    with store.writing():  # a pull or pack runs (here or in another process): its blobs are not named yet
        mp.remove("example.com/team/tricky:prod")
        assert blob.exists(), "unreferenced blobs are left while a copy into the store runs"
    assert mp.api.gc_store().blobs > 0
    assert not blob.exists(), "unreferenced blobs are collected"
    mp.pack(model, "example.com/team/tricky:2")
    mp.remove("example.com/team/tricky:2")
    assert not blob.exists(), "rm collects them itself when no copy runs"
    with pytest.raises(NotFoundError):
        mp.inspect("example.com/team/tricky:prod")


# Small blobs are hashed as they are written; large ones, arriving alone, on a second thread.
@pytest.mark.parametrize("size", [100_000, THREADED_HASH_MIN_BYTES + 12_345], ids=["inline", "threaded"])
def test_pull_refuses_a_blob_corrupted_in_the_registry(registry: Registry, tmp_path: Path, size: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    threaded: list[int] = []

    class Recording(digests.ThreadedHashing):
        def __init__(self, *args: object, **kwargs: object) -> None:
            threaded.append(1)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(digests, "ThreadedHashing", Recording)
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"A" * size)
    ref = registry.repo() + ":c"
    pushed = mp.push(model, ref, options=PLAIN)
    mp.pull(ref, output=tmp_path / "good", options=PLAIN, store=LayoutStore(tmp_path / "other-store"))
    assert (tmp_path / "good" / "w.bin").read_bytes() == b"A" * size
    assert bool(threaded) == (size >= THREADED_HASH_MIN_BYTES)
    layer = mp.inspect(ref, remote_only=True, options=PLAIN).to_json()["layers"][0]
    hexd = layer["digest"].split(":")[1]
    data = registry.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"
    data.write_bytes(b"A" * (size - 1) + b"B")  # same size, last byte differs
    with pytest.raises(IntegrityError):
        mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert not (tmp_path / "out").exists()
    store = LayoutStore()
    assert not store.blob_path(layer["digest"]).exists()
    assert all(e.descriptor.digest != pushed.descriptor.digest for e in store.entries())


def test_manifest_served_under_its_digest_is_checked(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"x")
    ref = registry.repo() + ":d"
    pushed = mp.push(model, ref, options=PLAIN)
    name = ref.split("/", 1)[1].rsplit(":", 1)[0]
    resp = requests.get(f"{registry.url}/v2/{name}/manifests/{pushed.descriptor.digest}",
                        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    assert resp.status_code == 200
    assert "sha256:" + __import__("hashlib").sha256(resp.content).hexdigest() == pushed.descriptor.digest
