"""Kubernetes manifests for a model, every image and volume reference pinned by digest."""

from __future__ import annotations

import re
from typing import Any

import yaml

from modelpack.image.serving import SERVE_ARGS, SERVE_PORT

_FORMATS = {"scikit-learn": "sklearn", "sklearn": "sklearn", "onnx": "onnx", "pytorch": "pytorch",
            "transformers": "huggingface", "xgboost": "xgboost", "lightgbm": "lightgbm", "tensorflow": "tensorflow"}


def name_for(repository: str) -> str:
    """A name valid for every object emitted, from a repository path's last component: a DNS-1035 label
    (a Service's name must start with a letter; lower-case letters, digits and '-'; at most 63)."""
    name = re.sub(r"[^a-z0-9-]+", "-", repository.rsplit("/", 1)[-1].lower()).strip("-")
    if not name[:1].isalpha():
        name = f"model-{name}"
    return name[:50].rstrip("-")


def resources(cpu: str, memory: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}


def probes() -> dict[str, Any]:
    return {
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": SERVE_PORT}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": SERVE_PORT}, "periodSeconds": 5},
    }


def deployment(name: str, image: str, cpu: str, memory: str, volume_image: str | None = None,
               model_digest: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "model-server", "image": image,
                                 "ports": [{"name": "http", "containerPort": SERVE_PORT}],
                                 "resources": resources(cpu, memory), **probes()}
    pod: dict[str, Any] = {"containers": [container]}
    if volume_image is not None:
        # Kubernetes 1.33+ image volumes: the model artifact itself, mounted read-only.
        container["args"] = SERVE_ARGS
        container["volumeMounts"] = [{"name": "model", "mountPath": "/models", "readOnly": True}]
        pod["volumes"] = [{"name": "model", "image": {"reference": volume_image, "pullPolicy": "IfNotPresent"}}]
    labels = {"app.kubernetes.io/name": name}
    annotations = {"io.modelpack.model.digest": model_digest} if model_digest else {}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, **({"annotations": annotations} if annotations else {})},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": pod}},
    }


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app.kubernetes.io/name": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": SERVE_PORT}]}}


def inference_service(name: str, model_uri: str, framework: str, cpu: str, memory: str) -> dict[str, Any]:
    model_format = _FORMATS.get(framework.lower(), framework)
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": {"model": {"modelFormat": {"name": model_format}, "protocolVersion": "v2",
                                         "storageUri": model_uri, "resources": resources(cpu, memory)}}},
    }


class _PlainDumper(yaml.SafeDumper):
    """No anchors and aliases (&id001/*id001) for objects used twice: plain YAML every tool reads."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(documents: list[dict[str, Any]]) -> str:
    return yaml.dump_all(documents, Dumper=_PlainDumper, sort_keys=False)
