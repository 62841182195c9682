"""`k8s --kube-version`: the Deployment's preStop pause for a cluster older than 1.30, where the sleep action
(KEP-3960: alpha and off by default in 1.29, absent before) makes `kubectl apply` fail. Checked against the API
server's own OpenAPI schemas (kubernetes-validate, strict). Before: every Deployment had `preStop.sleep`, which
1.28's schema refuses, and there was no way to write another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from helpers import modelpack
from images import push_image
from registry_process import Registry
from test_k8s_serving_image_check import _config

PYTHON = "io.modelpack.serve.python.interpreter"


def documents(registry: Registry, labels: dict[str, str], *args: str) -> list[dict[str, Any]]:
    """The YAML `k8s` writes for a serving image with `labels`, given `args` (exit 0 expected)."""
    image = registry.repo("serving") + ":1"
    push_image(image, _config(labels={"io.modelpack.serve.version": "0.9.0", **labels}))
    run = modelpack("k8s", image, "--plain-http", *args)
    assert run.code == 0, run.err
    return list(yaml.safe_load_all(run.out))


def pre_stop(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(docs[0]["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"])


def invalid(doc: dict[str, Any], version: str) -> str | None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{exc.message} at {list(exc.path)}"
    return None


def test_an_older_cluster_gets_an_exec_of_the_images_python(registry: Registry) -> None:
    current = documents(registry, {PYTHON: "/usr/local/bin/python3.12"})
    assert pre_stop(current) == {"sleep": {"seconds": 5}}  # the default is unchanged
    assert invalid(current[0], "1.28.0") is not None  # what a 1.28 cluster refuses
    for version in ("1.28", "v1.29.4"):
        docs = documents(registry, {PYTHON: "/usr/local/bin/python3.12"}, "--kube-version", version)
        assert pre_stop(docs) == {"exec": {"command": ["/usr/local/bin/python3.12", "-c",
                                                       "import time; time.sleep(5)"]}}
        for schema in ("1.25.0", "1.28.0", "1.29.0"):
            for doc in docs:
                assert invalid(doc, schema) is None, (doc["kind"], schema, invalid(doc, schema))
    assert pre_stop(documents(registry, {}, "--kube-version", "1.30")) == {"sleep": {"seconds": 5}}


@pytest.mark.parametrize("recorded", [None, "/bin/sh", "python3; rm -rf /", "/usr/bin/python3.11 -c x"])
def test_an_interpreter_the_image_does_not_record_as_build_image_does_is_python3(registry: Registry,
                                                                                 recorded: str | None) -> None:
    labels = {PYTHON: recorded} if recorded is not None else {}
    docs = documents(registry, labels, "--kube-version", "1.29")
    assert pre_stop(docs)["exec"]["command"][0] == "python3"


@pytest.mark.parametrize("args, said", [
    (("--kube-version", "banana"), "--kube-version 'banana' is not a Kubernetes version: give MAJOR.MINOR"),
    (("--kube-version", "2.0"), "--kube-version '2.0' is not a Kubernetes version"),
    (("--kube-version", "1.19"), "--kube-version '1.19': the YAML needs Kubernetes 1.20 or later"),
    (("--kind", "kserve", "--kube-version", "1.29"), "--kube-version applies to --kind deployment and --kind "
                                                      "image-volume only"),
    (("--kind", "image-volume", "--serving-image", "localhost:1/s:1", "--kube-version", "1.32"),
     "--kind image-volume needs Kubernetes 1.33 or later (image volumes), not --kube-version '1.32'; deploy a "
     "serving image with --kind deployment instead"),
])
def test_a_version_that_cannot_be_served_is_refused_before_any_registry(tmp_path: Path, args: tuple[str, ...],
                                                                         said: str) -> None:
    run = modelpack("k8s", "localhost:1/never-asked:1", *args)  # nothing listens on port 1
    assert run.code == 2 and said in run.err and "\n" not in run.err.strip(), run.err


def test_the_api_names_its_parameter() -> None:
    import modelpack as mp
    from modelpack.errors import UsageError

    with pytest.raises(UsageError, match=r"kind='image-volume' needs Kubernetes 1\.33 or later \(image volumes\), "
                                         r"not kube_version='1\.29'"):
        mp.kubernetes("localhost:1/never-asked:1", "image-volume", serving_image="localhost:1/s:1",
                      kube_version="1.29")
