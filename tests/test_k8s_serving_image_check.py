"""`k8s --kind image-volume --serving-image IMAGE`: what the pod's `modelpack serve /models` needs of IMAGE, read
from its config, is warned about in one line (the YAML is still written, exit 0): a non-Linux image, a
modelpack its PATH does not reach, an image recording what it installed (build-image's label) without the
runtime of the model's file.

Before: only the entrypoint was read; an image whose entrypoint is `modelpack serve` was taken as able to serve
anything, and one naming its modelpack by absolute path was said not to run `modelpack serve` at all."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from helpers import modelpack
from images import GOOD_CONFIG, push_image
from registry_process import Registry
from test_image_refusals import push_model

SERVE = ["modelpack", "serve", "/models", "--host", "0.0.0.0", "--port", "8080"]
INSTALLED = "io.modelpack.serve.installed"
ALL = ("joblib==1.4.2, numpy==2.1.1, onnxruntime==1.19.2, prometheus_client==0.21.0, scikit_learn==1.5.2, "
       "skops==0.10.0, starlette==0.38.5, uvicorn==0.30.6, xgboost_cpu==2.1.1")
NO_ONNX = ALL.replace("onnxruntime==1.19.2, ", "")
BUILT = {"io.modelpack.serve.version": "0.9.0"}  # what build-image records (with its launcher in /opt/modelpack/bin)


def _config(os_name: str = "linux", path: str | None = "/opt/modelpack/bin:/usr/local/bin:/usr/bin:/bin",
            entrypoint: list[str] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    config = copy.deepcopy(GOOD_CONFIG)
    config["os"] = os_name
    config["config"] = {"Entrypoint": entrypoint or SERVE, "Env": [f"PATH={path}"] if path else [],
                        "Labels": labels if labels is not None else {**BUILT, INSTALLED: ALL}}
    return config


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "no-onnxruntime": (_config(labels={**BUILT, INSTALLED: NO_ONNX}),
                       f"has no onnxruntime (its {INSTALLED} label), which serving model.onnx needs (build the image "
                       "again with build-image)"),
    "launcher-outside-path": (_config(path="/usr/bin:/bin"),
                              "has its modelpack in /opt/modelpack/bin, which its PATH (/usr/bin:/bin) does not list: "
                              "the Deployment's command `modelpack` would not be found (add /opt/modelpack/bin to "
                              "PATH)"),
    "absolute-entrypoint-outside-path": (
        _config(path=None, entrypoint=["/venv/bin/modelpack", *SERVE[1:]], labels={}),
        "has its modelpack in /venv/bin, which its PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:"
        "/bin) does not list: the Deployment's command `modelpack` would not be found (add /venv/bin to PATH)"),
    "windows": (_config(os_name="windows"), "is a windows image: `modelpack serve` runs on linux"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_what_the_serving_image_lacks_is_one_warning_line(registry: Registry, tmp_path: Path, case: str) -> None:
    model = push_model(registry, tmp_path, "name: iris\nframework: onnx\n")  # its model.onnx is what serve loads
    config, said = CASES[case]
    image = registry.repo("serving") + ":1"
    push_image(image, config)
    run = modelpack("k8s", "--kind", "image-volume", "--serving-image", image, model, "--plain-http")
    assert run.code == 0 and "kind: Deployment" in run.out, run.err
    assert run.err == f"warning: {image} {said}\n", run.err


def test_a_serving_image_with_all_it_needs_is_quiet(registry: Registry, tmp_path: Path) -> None:
    model = push_model(registry, tmp_path, "name: iris\nframework: onnx\n")
    image = registry.repo("serving") + ":1"
    push_image(image, _config(entrypoint=["/opt/modelpack/bin/modelpack", *SERVE[1:]]))
    run = modelpack("k8s", "--kind", "image-volume", "--serving-image", image, model, "--plain-http")
    assert (run.code, run.err) == (0, ""), run.err
    # Two problems, one line.
    push_image(image, _config(os_name="windows", labels={**BUILT, INSTALLED: NO_ONNX}))
    both = modelpack("k8s", "--kind", "image-volume", "--serving-image", image, model, "--plain-http")
    assert both.code == 0 and both.err.count("\n") == 1, both.err
    assert both.err.startswith(f"warning: {image} is a windows image: "), both.err
    assert "; it has no onnxruntime " in both.err, both.err
