"""What `k8s` writes is valid Kubernetes, checked against the API server's own OpenAPI schemas (kubernetes-validate,
strict: an unknown field fails too) for 1.33, where image volumes are beta, and the latest release the package
knows. The other k8s tests read the fields they expect; a misspelt or misplaced field, which the API server
refuses or (without strict validation) drops, passed them. A KServe InferenceService is a CRD: no schema here."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

from helpers import modelpack
from images import push_image
from registry_process import Registry
from test_image_refusals import push_model
from test_k8s_serving_image_check import _config

VERSIONS = ["1.33.0", kv_utils.latest_version()]


@pytest.mark.parametrize("kind", ["deployment", "image-volume"])
def test_every_object_k8s_writes_passes_the_api_servers_schema(registry: Registry, tmp_path: Path,
                                                                kind: str) -> None:
    model = push_model(registry, tmp_path, "name: iris\nframework: onnx\n")
    image = registry.repo("serving") + ":1"
    push_image(image, _config())
    common = ("--namespace", "ml", "--replicas", "3", "--image-pull-secret", "regcred", "--cpu", "500m",
              "--memory", "1Gi", "--plain-http")
    args = (image,) if kind == "deployment" else ("--serving-image", image, model)
    run = modelpack("k8s", "--kind", kind, *args, *common)
    assert run.code == 0, run.err
    documents = list(yaml.safe_load_all(run.out))
    assert [doc["kind"] for doc in documents] == ["Deployment", "Service"]
    for version in VERSIONS:
        for doc in documents:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{doc['kind']} is not valid Kubernetes {version}: {exc.message} at {list(exc.path)}")
