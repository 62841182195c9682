"""Kubernetes manifests for a model, every image and volume reference pinned by digest."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from modelpack.image.serving import SERVE_COMMAND, SERVE_PORT

_FORMATS = {"scikit-learn": "sklearn", "sklearn": "sklearn", "onnx": "onnx", "pytorch": "pytorch",
            "transformers": "huggingface", "xgboost": "xgboost", "lightgbm": "lightgbm", "tensorflow": "tensorflow"}


def name_for(repository: str) -> str:
    """A name valid for every object emitted, from a repository path's last component: a DNS-1035 label
    (a Service's name must start with a letter; lower-case letters, digits and '-'; at most 63)."""
    name = re.sub(r"[^a-z0-9-]+", "-", repository.rsplit("/", 1)[-1].lower()).strip("-")
    if not name[:1].isalpha():
        name = f"model-{name}"
    return name[:50].rstrip("-")


@dataclass(frozen=True)
class Placement:
    """Where and how many: the objects' name, their namespace (None: not written), the pod count, and the
    Secrets the kubelet pulls the pod's images (and image volume) from a private registry with."""

    name: str
    namespace: str | None = None
    replicas: int = 1
    pull_secrets: tuple[str, ...] = ()

    def pull_secrets_spec(self) -> dict[str, Any]:
        """A pod spec's `imagePullSecrets` (nothing when none are given)."""
        return {"imagePullSecrets": [{"name": name} for name in self.pull_secrets]} if self.pull_secrets else {}

    def metadata(self, **extra: Any) -> dict[str, Any]:
        """An object's metadata: name, namespace when given, then `extra` (labels, annotations)."""
        return {"name": self.name, **({"namespace": self.namespace} if self.namespace else {}), **extra}


def resources(cpu: str, memory: str) -> dict[str, Any]:
    """Requests of `cpu` and `memory`; `memory` is also the limit."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}


# While `modelpack serve` loads its model, its port answers live (200) and not ready (400), as Triton's
# does. The startup probe stays, on ready: it gives a large model this long to load, and restarts a pod
# whose load never ends, which liveness alone would not (it answers 200 all through the load); liveness
# (3 misses 10 s apart) and readiness start once it has passed.
STARTUP_SECONDS = 600
# Kubernetes removes a stopping pod from its Service's endpoints while it sends SIGTERM; kube-proxy and
# ingress controllers learn of it seconds later, and serve stops accepting at SIGTERM: requests routed
# meanwhile would be refused. A preStop sleep (Kubernetes 1.30+, no `sleep` binary needed in the image;
# an exec of the image's Python before: `kube_version`) keeps serve answering until they have.
PRE_STOP_SECONDS = 5
# What a pod has after the stop begins before its SIGKILL: that sleep, serve's graceful stop
# (--request-timeout, 30 s by default) and a margin to close; Kubernetes' default (30 s) would kill it.
GRACE_SECONDS = PRE_STOP_SECONDS + 45


def probes() -> dict[str, Any]:
    """Startup, liveness and readiness probes on the V2 health endpoints."""
    return {
        "startupProbe": {"httpGet": {"path": "/v2/health/ready", "port": SERVE_PORT}, "periodSeconds": 5,
                         "failureThreshold": STARTUP_SECONDS // 5},
        # Kubernetes' 1 s timeout is too short under load: a small inference runs on serve's event loop, so a
        # probe waits behind those queued (1.0-1.5 s with 64 clients of a 100-tree forest), and 3 misses
        # would restart a pod that is only busy.
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": SERVE_PORT}, "periodSeconds": 10,
                          "timeoutSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": SERVE_PORT}, "periodSeconds": 5,
                           "timeoutSeconds": 5},
    }


def deployment(where: Placement, image: str, cpu: str, memory: str, volume_image: str | None = None,
               model_digest: str | None = None, identity: dict[str, str] | None = None,
               pre_stop: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Deployment running `image` (a serving image), or with `volume_image` a serving image that serves the
    model artifact mounted at /models as a Kubernetes image volume (1.33+).

    With a volume, the container's `command` (not `args`: Kubernetes appends args to the image's
    entrypoint, which in a serving image is already `modelpack serve /models ...`) runs the server,
    and `identity` (name, version, digest of the mounted model) overrides the MODELPACK_MODEL_*
    variables the serving image carries for the model it was built from: the volume's files include
    no modelpack.yaml, so without them /v2/models and /metrics would name the wrong model. `pre_stop` is the
    preStop handler (`kube_version.pre_stop`; default: a sleep of PRE_STOP_SECONDS, Kubernetes 1.30+)."""
    container: dict[str, Any] = {"name": "model-server", "image": image,
                                 "ports": [{"name": "http", "containerPort": SERVE_PORT}],
                                 "resources": resources(cpu, memory), **probes(),
                                 "lifecycle": {"preStop": pre_stop or {"sleep": {"seconds": PRE_STOP_SECONDS}}}}
    pod: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": GRACE_SECONDS,
                           **where.pull_secrets_spec()}
    if volume_image is not None:
        container["command"] = SERVE_COMMAND
        container["env"] = [{"name": f"MODELPACK_MODEL_{key.upper()}", "value": value}
                            for key, value in (identity or {}).items()]
        container["volumeMounts"] = [{"name": "model", "mountPath": "/models", "readOnly": True}]
        pod["volumes"] = [{"name": "model", "image": {"reference": volume_image, "pullPolicy": "IfNotPresent"}}]
    labels = {"app.kubernetes.io/name": where.name}
    annotations = {"io.modelpack.model.digest": model_digest} if model_digest else {}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": where.metadata(labels=labels, **({"annotations": annotations} if annotations else {})),
        "spec": {"replicas": where.replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": pod}},
    }


def service(where: Placement) -> dict[str, Any]:
    """A Service in front of the Deployment's pods, port 80 to the server's port."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": where.metadata(),
            "spec": {"selector": {"app.kubernetes.io/name": where.name},
                     "ports": [{"name": "http", "port": 80, "targetPort": SERVE_PORT}]}}


# What KServe's runtimes for a modelFormat load: sklearnserver and MLServer's sklearn runtime both call
# joblib.load on these extensions only (a `.skops` file is not one of them).
_RUNTIME_FILES = {"sklearn": (".joblib", ".pkl", ".pickle")}


def kserve_format(framework: str) -> str:
    """KServe's `modelFormat` name for a recorded framework (`scikit-learn` gives `sklearn`)."""
    return _FORMATS.get(framework.lower(), framework)


def runtime_file_types(model_format: str) -> tuple[str, ...] | None:
    """The file extensions KServe's own runtimes for `model_format` load, where they load only some (None:
    not known to be limited)."""
    return _RUNTIME_FILES.get(model_format)


def runtime_cannot_load(model_format: str, paths: list[str]) -> tuple[str, ...] | None:
    """The file extensions KServe's runtimes for `model_format` load, when none of `paths` has one (None:
    one does, there are no paths, or those runtimes are not known to be limited)."""
    loads = runtime_file_types(model_format)
    if not loads or not paths or any(path.endswith(loads) for path in paths):
        return None
    return loads


def inference_service(where: Placement, model_uri: str, framework: str, cpu: str, memory: str) -> dict[str, Any]:
    """A KServe InferenceService whose predictor's runtime (chosen by KServe from `modelFormat`) serves the
    model of a modelcar image (`storageUri: oci://...`, KServe's modelcars, mounted at /mnt/models)."""
    from modelpack.image.runtime_layouts import V1_ONLY

    model_format = kserve_format(framework)
    protocol = "v1" if model_format in V1_ONLY else "v2"  # v2 would make KServe pick another runtime
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": where.metadata(),
        "spec": {"predictor": {**_scale(where), **where.pull_secrets_spec(),
                               "model": {"modelFormat": {"name": model_format}, "protocolVersion": protocol,
                                         "storageUri": model_uri, "resources": resources(cpu, memory)}}},
    }


def inference_service_container(where: Placement, image: str, cpu: str, memory: str) -> dict[str, Any]:
    """A KServe InferenceService whose predictor is a custom container: a serving image (`modelpack serve
    /models` on port 8080), named `kserve-container` as KServe expects of a predictor's container."""
    container = {"name": "kserve-container", "image": image,
                 "ports": [{"containerPort": SERVE_PORT, "protocol": "TCP"}],
                 "resources": resources(cpu, memory), **probes()}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": where.metadata(),
            "spec": {"predictor": {**_scale(where), **where.pull_secrets_spec(), "containers": [container]}}}


def _scale(where: Placement) -> dict[str, int]:
    """KServe's pod count: minReplicas and maxReplicas (a fixed count when equal)."""
    return {"minReplicas": where.replicas, "maxReplicas": where.replicas}


class _PlainDumper(yaml.SafeDumper):
    """No anchors and aliases (&id001/*id001) for objects used twice: plain YAML every tool reads."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(documents: list[dict[str, Any]]) -> str:
    """The documents as YAML, in insertion order, with no anchors or aliases."""
    return yaml.dump_all(documents, Dumper=_PlainDumper, sort_keys=False)
