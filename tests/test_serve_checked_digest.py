"""`serve REF` reads the manifest once, by tag, to refuse a pickle before anything is downloaded, then pulls
exactly that manifest by digest: a tag moved between the check and the pull cannot swap the model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from modelpack.api import deploy
from modelpack.store.options import ClientOptions
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
    # One read by tag (the check's); the pull's is by the digest that read gave.
    reads = proxy.requests("GET", "/manifests/")
    assert [line for line in reads if "/manifests/latest" in line] == [f"GET /v2/{path}/manifests/latest"], reads
    assert any(f"/manifests/{checked.descriptor.digest}" in line for line in reads), reads
    assert mp.inspect(ref, store=None).descriptor.digest == checked.descriptor.digest  # the local store agrees
