"""modelpack.Client: the verbs over one set of options, one connection pool per registry, one store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import tree
from registry_process import Registry


def test_a_client_pushes_pulls_and_lists_over_one_pool(registry: Registry, tmp_path: Path) -> None:
    client = mp.Client(plain_http=True, store=tmp_path / "store")
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(50_000))
    (model / "modelpack.yaml").write_text("name: m\nversion: '1'\nmetrics: {accuracy: 0.9}\n")
    ref = registry.repo() + ":1"
    pushed = client.push(model, ref)
    assert client.pull(ref, output=tmp_path / "out").descriptor.digest == pushed.descriptor.digest
    assert tree(tmp_path / "out") == tree(model)
    versions = client.list_versions(ref.rsplit(":", 1)[0], where=["metrics.accuracy>=0.9"])
    assert [v.tag for v in versions] == ["1"]
    # Metadata overrides as a mapping, typed values kept: the version stays the text "2.0".
    second = client.push(model, registry.repo() + ":2", {"version": "2.0", "metrics": {"f1": 0.8}})
    info = client.inspect(second.reference, remote_only=True)
    assert (info.version, info.metrics) == ("2.0", {"accuracy": 0.9, "f1": 0.8})
    client.pull(ref)  # into the client's own store
    assert [m.digest for m in client.list_models()] == [pushed.descriptor.digest]
    assert not (Path(os.environ["MODELPACK_HOME"]) / "index.json").exists()  # not the default store
    assert client.remote(mp.Reference.parse(ref)).client is client.remote(mp.Reference.parse(ref)).client


def test_a_failed_transfer_leaves_the_shared_client_usable(registry: Registry, tmp_path: Path) -> None:
    with FaultProxy(registry.host) as proxy:
        client = mp.Client(plain_http=True, store=tmp_path / "store")
        model = tmp_path / "m"
        model.mkdir()
        (model / "w.bin").write_bytes(os.urandom(50_000))
        ref = proxy.host + "/" + registry.repo().split("/", 1)[1] + ":1"
        client.push(model, ref)
        proxy.faults.append(Fault("GET .*/blobs/", times=100, status=404))
        with pytest.raises(mp.ModelpackError):
            client.pull(ref, output=tmp_path / "failed")
        proxy.faults[:] = [Fault("GET .*/blobs/", times=1, status=503, headers={"Retry-After": "0"})]
        # The next pull needs a retry: a client left cancelled by the failure would give up here.
        assert tree(client.pull(ref, output=tmp_path / "out").output) == tree(model)  # type: ignore[arg-type]
