"""How the serving layers are put on a base, without pip (its install is replaced by a fake package):
the image's config (PATH, PYTHONPATH, user, labels, diff_ids, history), the platform chosen from a
multi-platform base, and the requirements layer taken from the cache on the second build.
The real pip install and a run of the image are in test_serving_image.py."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from helpers import modelpack
from images import GOOD_CONFIG, push_image
from modelpack.image import pip_target
from modelpack.oci.descriptor import Descriptor, Platform
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_image_refusals import push_index, push_model

PLAIN = ClientOptions(plain_http=True)
HOST = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
OTHER = "arm64" if HOST == "amd64" else "amd64"


@pytest.fixture
def installs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """pip replaced: each call writes one fake distribution and is recorded as (python, platform)."""
    calls: list[tuple[str, str]] = []

    def fake_install(target: Path, python_version: str, platform_tag: str, packages: list[str]) -> None:
        calls.append((python_version, platform_tag))
        (target / "fakepkg").mkdir()
        (target / "fakepkg" / "__init__.py").write_text("VALUE = 1\n")
        (target / "fakepkg-1.0.dist-info").mkdir()
        (target / "fakepkg-1.0.dist-info" / "METADATA").write_text("Name: fakepkg\nVersion: 1.0\n")

    monkeypatch.setattr(pip_target, "install", fake_install)
    return calls


def _base(registry: Registry) -> str:
    """A two-platform base whose config names its Python as the official images do."""
    repo = registry.repo("pybase")
    children = []
    for arch in (HOST, OTHER):
        config = json.loads(json.dumps(GOOD_CONFIG))
        config["architecture"] = arch
        config["config"]["Env"] = ["PATH=/usr/local/bin:/usr/bin:/bin", "PYTHON_VERSION=3.12.4", "LANG=C.UTF-8"]
        config["config"]["User"] = "root"
        desc = push_image(f"{repo}:{arch}", config, tag=False)
        children.append(desc.replace(platform=Platform(architecture=arch, os="linux")))
    push_index(f"{repo}:3.12", children)
    return f"{repo}:3.12"


def _config(image: str, desc: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    target = mp.remote(mp.Reference.parse(image), PLAIN)
    index = json.loads(target.fetch_manifest(desc.digest)[1])
    assert [m["platform"]["architecture"] for m in index["manifests"]] == [HOST]  # this machine's only
    manifest = json.loads(target.fetch_manifest(index["manifests"][0]["digest"])[1])
    config_desc = Descriptor(mediaType=manifest["config"]["mediaType"], digest=manifest["config"]["digest"],
                                size=manifest["config"]["size"])
    with target.open_blob(config_desc) as stream:
        return manifest, json.loads(stream.read())


def test_serving_layers_config_and_cache(registry: Registry, tmp_path: Path,
                                         installs: list[tuple[str, str]]) -> None:
    model = push_model(registry, tmp_path)
    base = _base(registry)
    image = registry.repo("served")
    steps: list[str] = []
    first = mp.build_image(model, image + ":1", base=base, options=PLAIN, on_step=steps.append)
    assert installs == [("3.12", pip_target.wheel_platform(HOST))]
    # The minute pip may take is announced (it was a silent wait); a cached build has nothing to say.
    assert len(steps) == 1 and steps[0].startswith("installing ") and "Python 3.12 on manylinux_2_28_" in steps[0]
    manifest, config = _config(image + ":1", first)
    settings = config["config"]
    env = dict(entry.split("=", 1) for entry in settings["Env"])
    assert env["PATH"] == "/opt/modelpack/bin:/usr/local/bin:/usr/bin:/bin"
    assert env["PYTHONPATH"] == "/opt/modelpack/lib" and env["LANG"] == "C.UTF-8"
    assert env["MODELPACK_MODEL_NAME"] == "iris"
    assert settings["User"] == "10001:10001"  # not the base's root
    assert settings["Entrypoint"][:3] == ["modelpack", "serve", "/models"]
    labels = settings["Labels"]
    assert labels["io.modelpack.serve.python"] == "3.12"
    assert labels["io.modelpack.serve.python.interpreter"] == "/usr/local/bin/python3.12"
    assert labels["io.modelpack.serve.python.found-by"] == "env PYTHON_VERSION"
    assert labels["io.modelpack.serve.installed"] == "fakepkg==1.0"
    assert labels["io.modelpack.serve.version"] == mp.__version__
    layers = manifest["layers"]
    assert len(layers) == len(config["rootfs"]["diff_ids"]) == 4  # base, requirements, modelpack, model
    assert layers[1]["mediaType"] == layers[2]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert config["history"][-3]["created_by"].startswith("modelpack build-image: pip install --platform")

    second = mp.build_image(model, image + ":2", base=base, options=PLAIN, on_step=steps.append)
    assert len(installs) == 1 and len(steps) == 1  # the requirements layer came from the cache
    assert second.digest == first.digest  # and every layer is reproducible


def test_pip_that_cannot_install_is_one_line(registry: Registry, tmp_path: Path) -> None:
    model = push_model(registry, tmp_path)
    image = registry.repo("served") + ":1"
    no_index = {"PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_FIND_LINKS": "",
                "PIP_EXTRA_INDEX_URL": "", "PIP_NO_CACHE_DIR": "1", "PIP_RETRIES": "0", "PIP_TIMEOUT": "2"}
    run = modelpack("build-image", "--plain-http", model, "-t", image, "--base", _base(registry), env=no_index)
    announced, failed = run.err.strip().splitlines()  # what it was doing, then the one error line
    assert run.code == 1 and announced.startswith("installing ") and "with pip" in announced, run.err
    assert failed.startswith("error: pip could not install the serving packages for Python 3.12 on manylinux_2_28_")
    assert "Traceback" not in run.err and run.out == ""
