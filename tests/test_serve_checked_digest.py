"""`serve REF` reads the manifest once, by tag, and the config once, to refuse a pickle before anything is
downloaded, then pulls exactly that manifest, reusing both: a tag moved between the check and the pull cannot
swap the model, and neither is fetched twice. The pull still checks every digest it is handed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from modelpack.api import serving as deploy
from modelpack.api.core import inspect_fetched
from modelpack.errors import IntegrityError, UsageError
from modelpack.store.options import ClientOptions
from modelpack.store.prefetched import Prefetched
from registry_process import Registry
from serve_models import iris_skops
from serving import call

PLAIN = ClientOptions(plain_http=True)


def test_serve_pulls_the_manifest_the_pickle_check_read(registry: Registry, proxy: FaultProxy,
                                                        serving: Callable[..., str], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = registry.repo().split("/", 1)[1]
    direct, ref = f"{registry.host}/{path}", f"{proxy.host}/{path}:latest"  # serve goes through the proxy
    checked = mp.push(iris_skops(tmp_path / "one", version="1.0")[0], f"{direct}:latest", options=PLAIN)
    mp.push(iris_skops(tmp_path / "two", version="2.0")[0], f"{direct}:next", options=PLAIN)

    check = deploy._refuse_unverified_pickle_early

    def check_then_move_the_tag(*args: Any, **kwargs: Any) -> Any:
        result = check(*args, **kwargs)
        # Straight to the registry (not through the proxy, whose log counts serve's requests alone).
        mp.tag_remote(f"{direct}:next", f"{direct}:latest", options=PLAIN)
        return result

    monkeypatch.setattr(deploy, "_refuse_unverified_pickle_early", check_then_move_the_tag)
    proxy.clear()
    base = serving(ref, options=PLAIN)

    status, described = call(f"{base}/v2/models/iris")
    assert status == 200, described
    assert described["parameters"]["digest"] == checked.descriptor.digest
    assert described["versions"] == ["1.0"]
    assert mp.resolve(f"{direct}:latest", options=PLAIN).digest != checked.descriptor.digest  # the tag did move
    # One manifest read in all, by tag (the check's): the pull takes the bytes it read, and their digest.
    assert proxy.requests("GET", "/manifests/") == [f"GET /v2/{path}/manifests/latest"]
    # One config read in all: the check's, handed to the pull too.
    config = mp.inspect(f"{direct}@{checked.descriptor.digest}", remote_only=True, options=PLAIN).manifest.config
    assert proxy.requests("GET", f"/blobs/{config.digest}") == [f"GET /v2/{path}/blobs/{config.digest}"]
    assert mp.inspect(ref, store=None).descriptor.digest == checked.descriptor.digest  # the local store agrees


def test_pull_checks_what_it_is_handed(registry: Registry, tmp_path: Path) -> None:
    """`pull(prefetched=...)` still checks every digest: bytes that are not the manifest's or the
    config's are refused and nothing is stored; a reference naming another digest is refused."""
    ref = f"{registry.repo()}:handed"
    pushed = mp.push(iris_skops(tmp_path / "m", version="1.0")[0], ref, options=PLAIN)
    info, fetched = inspect_fetched(ref, remote_only=True, options=PLAIN)
    config = info.manifest.config.digest
    assert set(fetched.blobs) == {config} and fetched.descriptor.digest == pushed.descriptor.digest

    forged_config = Prefetched(fetched.descriptor, fetched.manifest, {config: b'{"forged": true}'})
    with pytest.raises(IntegrityError):
        mp.pull(ref, options=PLAIN, prefetched=forged_config)
    forged_manifest = Prefetched(fetched.descriptor, fetched.manifest + b" ", fetched.blobs)
    with pytest.raises(IntegrityError):
        mp.pull(ref, options=PLAIN, prefetched=forged_manifest)
    with pytest.raises(UsageError, match="another digest"):
        mp.pull(ref.rsplit(":", 1)[0] + "@sha256:" + "0" * 64, options=PLAIN, prefetched=fetched)
    with pytest.raises(mp.ModelpackError):
        mp.inspect(ref)  # nothing was stored

    pulled = mp.pull(ref, options=PLAIN, prefetched=fetched)
    assert pulled.descriptor.digest == pushed.descriptor.digest
    assert mp.inspect(ref).metadata["version"] == "1.0"


def test_pull_into_a_directory_takes_the_handed_config_too(registry: Registry, proxy: FaultProxy,
                                                          tmp_path: Path) -> None:
    """`pull -o` fetches small blobs as callbacks (quick fetches): a handed config is not among them."""
    path = registry.repo().split("/", 1)[1]
    folder, _ = iris_skops(tmp_path / "m", version="1.0")
    mp.push(folder, f"{registry.host}/{path}:dir", options=PLAIN)
    info, fetched = inspect_fetched(f"{proxy.host}/{path}:dir", remote_only=True, options=PLAIN)
    proxy.clear()
    out = tmp_path / "out"
    pulled = mp.pull(f"{proxy.host}/{path}:dir", output=out, options=PLAIN, prefetched=fetched)
    assert pulled.descriptor.digest == fetched.descriptor.digest
    assert proxy.requests("GET", "/manifests/") == []
    assert proxy.requests("GET", f"/blobs/{info.manifest.config.digest}") == []
    assert len(proxy.requests("GET", "/blobs/")) == len(info.manifest.layers)  # the layers, each once
    assert "version: '1.0'" in (out / "modelpack.yaml").read_text()  # restored from the handed config
    for layer in info.manifest.layers:
        name = layer.annotations["org.opencontainers.image.title"]
        assert (out / name).read_bytes() == (folder / name).read_bytes()
