"""`k8s` reads through registries.conf mirrors, as `pull`, `serve REF` and `build-image` read the model: with the
origin down, a Distribution pull-through cache that holds the model and the serving image by digest is enough
to write the YAML, which still names the origin (the nodes' runtime has mirrors of its own). Before, `k8s`
alone asked the origin only: exit 5, 'cannot connect to ORIGIN', mirrors not named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import modelpack as mp
from helpers import modelpack
from images import push_image
from registry_process import Registry
from test_image_refusals import push_model
from test_k8s_serving_image_check import _config
from test_mirrors import cache_pair, mirrored, wait_cached, write_conf

__all__ = ["cache_pair"]  # the fixture, used by name


def test_origin_down_k8s_writes_the_yaml_from_what_the_cache_holds(
        cache_pair: tuple[Registry, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, cache = cache_pair
    model = push_model(origin, tmp_path, "name: iris\nframework: onnx\n", repo=f"{origin.host}/team/iris")
    image = f"{origin.host}/team/serve:1"
    push_image(image, _config())
    plain = mp.ClientOptions(plain_http=True)
    pinned = [f"{ref.rsplit(':', 1)[0]}@{mp.resolve(ref, options=plain).digest}" for ref in (model, image)]
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host, pull_from="digest-only"))
    for n, ref in enumerate(pinned):  # through the cache, which keeps what it served
        warm = modelpack("copy", "--plain-http", ref, f"oci:{tmp_path / f'warm-{n}'}")
        assert warm.code == 0, warm.err
        wait_cached(cache, [f"sha256:{p.name}" for p in (tmp_path / f"warm-{n}" / "blobs" / "sha256").iterdir()])

    origin.stop()
    run = modelpack("k8s", "--kind", "image-volume", "--serving-image", pinned[1], pinned[0], "--plain-http", "-v")
    assert run.code == 0, run.err
    assert f"served by {cache.host} (mirror)" in run.err
    deployment = next(doc for doc in yaml.safe_load_all(run.out) if doc["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"][0]["image"]["reference"] == pinned[0]  # the origin's name, pinned
    assert pod["containers"][0]["image"] == pinned[1]
