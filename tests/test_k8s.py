"""`modelpack k8s`: what KServe and Kubernetes accept, checked by structure (no cluster here).

The InferenceService fields allowed below are those of KServe's v1beta1 API reference
(https://kserve.github.io/website/docs/reference/crd-api; pkg/apis/serving/v1beta1/component.go and
predictor.go in kserve/kserve): PredictorSpec = ComponentExtensionSpec
(minReplicas, maxReplicas, ...) + PodSpec (containers, ...) + `model` (ModelSpec: modelFormat, runtime,
protocolVersion, storageUri and the container fields such as resources)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import modelpack
from modelpack.image import k8s
from registry_process import Registry
from test_image import model_ref as model_ref
from test_image import push_base

pytestmark = pytest.mark.interop
PREDICTOR_FIELDS = {"minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "containerConcurrency", "timeout",
                    "canaryTrafficPercent", "logger", "batcher", "labels", "annotations", "deploymentStrategy",
                    "containers", "volumes", "serviceAccountName", "nodeSelector", "tolerations", "imagePullSecrets",
                    "model"}
MODEL_FIELDS = {"modelFormat", "runtime", "protocolVersion", "storageUri", "runtimeVersion", "storage", "resources",
                "env", "args", "command", "name", "image", "ports", "volumeMounts"}


def _build(registry: Registry, ref: str, tag: str, *extra: str) -> tuple[str, str]:
    """The image built from the model on a tiny base: by tag, and pinned by digest."""
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    image = registry.repo("images") + f":{tag}"
    built = modelpack("build-image", "--plain-http", "--json", ref, "-t", image, "--base", base, *extra)
    assert built.code == 0, built.err
    return image, image.rsplit(":", 1)[0] + "@" + json.loads(built.out)["digest"]


def _no_anchors(text: str) -> None:
    for event in yaml.parse(text):
        assert not isinstance(event, yaml.AliasEvent), text
        assert getattr(event, "anchor", None) is None, text


def _check_kserve(isvc: dict[str, Any], name: str, namespace: str | None) -> dict[str, Any]:
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["name"] == name and isvc["metadata"].get("namespace") == namespace
    assert set(isvc["spec"]) == {"predictor"}
    predictor = isvc["spec"]["predictor"]
    assert set(predictor) <= PREDICTOR_FIELDS, set(predictor) - PREDICTOR_FIELDS
    if "model" in predictor:
        assert set(predictor["model"]) <= MODEL_FIELDS, set(predictor["model"]) - MODEL_FIELDS
    return predictor


def test_kserve_takes_a_modelcar_as_an_oci_storage_uri(registry: Registry, model_ref: tuple[str, str]) -> None:
    ref, _ = model_ref
    tagged, modelcar = _build(registry, ref, "car", "--modelcar", "--trust-unverified-pickle")
    out = modelpack("k8s", "--plain-http", "--kind", "kserve", tagged, "--namespace", "ml", "--name", "iris-prod",
                    "--replicas", "3", "--trust-unverified-pickle")  # its /models holds the model's joblib
    assert out.code == 0, out.err
    _no_anchors(out.out)
    predictor = _check_kserve(yaml.safe_load(out.out), "iris-prod", "ml")
    assert predictor["minReplicas"] == predictor["maxReplicas"] == 3
    model = predictor["model"]
    assert model["storageUri"] == f"oci://{modelcar}"  # the modelcar image, pinned
    assert model["modelFormat"]["name"] == "sklearn"  # from the model the modelcar records
    assert model["protocolVersion"] == "v2"
    assert model["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}


def test_kserve_runs_a_serving_image_as_its_predictor_container(registry: Registry,
                                                               model_ref: tuple[str, str]) -> None:
    ref, _ = model_ref
    tagged, image = _build(registry, ref, "serve", "--no-serving-layer", "--trust-unverified-pickle")
    out = modelpack("k8s", "--plain-http", "--kind", "kserve", tagged)
    assert out.code == 0, out.err
    predictor = _check_kserve(yaml.safe_load(out.out), k8s.name_for(tagged.rsplit(":", 1)[0]), None)
    container = predictor["containers"][0]
    assert container["name"] == "kserve-container" and container["image"] == image
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    # A modelFormat has no place here (the image is its own runtime): refused, not silently dropped.
    given = modelpack("k8s", "--plain-http", "--kind", "kserve", tagged, "--model-format", "sklearn")
    assert given.code == 2 and given.out == "", given.err
    assert given.err == (f"error: --model-format applies to a modelcar; {tagged} is a serving image, run as the "
                         "predictor's container with no modelFormat\n")


def test_kserve_refuses_the_raw_artifact_naming_modelcar(registry: Registry,
                                                         model_ref: tuple[str, str]) -> None:
    out = modelpack("k8s", "--plain-http", "--kind", "kserve", model_ref[0])
    assert out.code == 2 and out.out == "" and len(out.err.strip().splitlines()) == 1, out.err
    assert "build-image" in out.err and "--modelcar" in out.err and "image-volume" in out.err


def test_deployment_takes_name_namespace_and_replicas(registry: Registry,
                                                      model_ref: tuple[str, str]) -> None:
    ref, _ = model_ref
    image = _build(registry, ref, "serve", "--no-serving-layer", "--trust-unverified-pickle")[0]
    out = modelpack("k8s", "--plain-http", image, "--name", "iris", "--namespace", "team-a", "--replicas", "4")
    assert out.code == 0, out.err
    _no_anchors(out.out)
    deployment, service = yaml.safe_load_all(out.out)
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == "iris"
    assert deployment["metadata"]["namespace"] == service["metadata"]["namespace"] == "team-a"
    assert deployment["spec"]["replicas"] == 4
    assert deployment["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "iris"}
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "iris"}

    volume = modelpack("k8s", "--plain-http", "--kind", "image-volume", ref, "--serving-image", image,
                       "--namespace", "team-a", "--replicas", "2", "--trust-unverified-pickle")
    assert volume.code == 0, volume.err
    _no_anchors(volume.out)
    docs = list(yaml.safe_load_all(volume.out))
    assert all(doc["metadata"]["namespace"] == "team-a" for doc in docs)
    assert docs[0]["spec"]["replicas"] == 2
    # Kubernetes appends `args` to the image's entrypoint (already `modelpack serve /models`): a command
    # replaces it. The serving image names the model it was built from; the mounted model is named instead.
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert "args" not in container
    assert container["command"][:3] == ["modelpack", "serve", "/models"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MODELPACK_MODEL_DIGEST"] == docs[0]["metadata"]["annotations"]["io.modelpack.model.digest"]
    assert env["MODELPACK_MODEL_DIGEST"] == docs[0]["spec"]["template"]["spec"]["volumes"][0]["image"][
        "reference"].split("@")[1]
    assert set(env) == {"MODELPACK_MODEL_NAME", "MODELPACK_MODEL_VERSION", "MODELPACK_MODEL_DIGEST"}


@pytest.mark.parametrize("args, expected", [
    (("--name", "Iris_Prod"), "--name 'Iris_Prod' is not a DNS-1035 label"),
    (("--namespace", "ML"), "--namespace 'ML' is not a DNS-1123 label"),
    (("--kind", "image-volume"), "--kind image-volume needs --serving-image IMAGE"),
])
def test_bad_k8s_options_are_one_line(registry: Registry, model_ref: tuple[str, str],
                                      args: tuple[str, ...], expected: str) -> None:
    out = modelpack("k8s", "--plain-http", model_ref[0], *args)
    assert out.code == 2 and len(out.err.strip().splitlines()) == 1 and expected in out.err, out.err


def test_rendered_yaml_equals_a_dump_with_anchors_disabled() -> None:
    where = k8s.Placement("iris", "ml", 2)
    docs = [k8s.deployment(where, "r/i@sha256:" + "a" * 64, "1", "1Gi"), k8s.service(where)]

    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    text = k8s.render(docs)
    assert text == yaml.dump_all(docs, Dumper=NoAliases, sort_keys=False)
    _no_anchors(text)
    assert list(yaml.safe_load_all(text)) == docs


@pytest.mark.parametrize("name, version", [
    ("iris\nMODELPACK_INJECTED=1", "1.0\x1b]0;pwned\x07"),
    ("iris\u202eexe.", "1.0\r"),
    ("n" * 100_000, "1." * 200),  # printable, but no name: megabytes in every pod's spec
])
def test_image_volume_env_takes_only_printable_identity_as_build_image_does(registry: Registry, name: str,
                                                                           version: str) -> None:
    from test_peer_metadata import push_manifest

    hostile, plain = registry.repo("hostile") + ":1", registry.repo("plain") + ":1"
    push_manifest(hostile, {"io.modelpack.model.name": name, "org.opencontainers.image.version": version})
    push_manifest(plain, {"io.modelpack.model.name": "iris", "org.opencontainers.image.version": "1.0 rc"})
    server = registry.repo("base") + ":1"
    push_base(server, ("amd64",))

    def env_of(ref: str) -> dict[str, str]:
        out = modelpack("k8s", "--plain-http", "--kind", "image-volume", ref, "--serving-image", server)
        assert out.code == 0, out.err
        container = next(yaml.safe_load_all(out.out))["spec"]["template"]["spec"]["containers"][0]
        return {item["name"]: item["value"] for item in container["env"]}

    # Left empty (still set: it overrides the serving image's own), so serve names the model by its folder.
    env = env_of(hostile)
    assert env["MODELPACK_MODEL_NAME"] == "" and env["MODELPACK_MODEL_VERSION"] == "", env
    assert all(value.isprintable() for value in env.values())
    env = env_of(plain)
    assert (env["MODELPACK_MODEL_NAME"], env["MODELPACK_MODEL_VERSION"]) == ("iris", "1.0 rc")


def test_kserve_refuses_a_modelcar_its_sklearn_runtime_cannot_load(registry: Registry, tmp_path: Path) -> None:
    """The quick start's model is a `.skops` file; KServe's sklearn runtimes (sklearnserver, MLServer) load
    only .joblib/.pkl/.pickle, so `modelFormat: sklearn` gave an InferenceService whose pod cannot load it."""
    import modelpack as mp
    from modelpack.store.options import ClientOptions

    folder = tmp_path / "iris"
    folder.mkdir()
    (folder / "model.skops").write_bytes(b"PK\x03\x04 not loaded here")
    (folder / "modelpack.yaml").write_text("name: iris\nframework: scikit-learn\nformat: skops\n")
    ref = registry.repo("skops") + ":1"
    mp.push(folder, ref, options=ClientOptions(plain_http=True))
    base, tagged = registry.repo("base") + ":1", registry.repo("images") + ":skops-car"
    push_base(base, ("amd64",))
    built = modelpack("build-image", "--plain-http", ref, "-t", tagged, "--base", base, "--modelcar")
    assert built.code == 0, built.err
    # Said when the modelcar is built, not first when its YAML is asked for.
    assert (f"warning: KServe's sklearn runtimes load only .joblib/.pkl/.pickle files and {ref} holds model.skops: "
            "`k8s --kind kserve` will refuse this modelcar") in built.err, built.err
    run = modelpack("k8s", "--plain-http", "--kind", "kserve", tagged)
    assert run.code == 2 and run.out == "", run.err
    assert run.err == (f"error: KServe's sklearn runtimes load only .joblib/.pkl/.pickle files and {tagged} holds "
                       "model.skops; deploy a serving image instead (`modelpack build-image MODEL -t IMAGE`, then "
                       "`k8s --kind kserve IMAGE`), or pass --model-format NAME for a ServingRuntime that loads "
                       "it\n")
    # A runtime of the user's own, named: their choice, written as asked.
    own = modelpack("k8s", "--plain-http", "--kind", "kserve", tagged, "--model-format", "skops")
    assert own.code == 0, own.err
    assert yaml.safe_load(own.out)["spec"]["predictor"]["model"]["modelFormat"]["name"] == "skops"


@pytest.mark.parametrize("flag", ["--cpu", "--memory"])
@pytest.mark.parametrize("value", ["abc", "2GB", "-1", "1 Gi", "1ki", "", "1m5"])
def test_k8s_refuses_what_is_no_kubernetes_quantity(registry: Registry, flag: str, value: str) -> None:
    """Written as given, these failed only at `kubectl apply` (or, negative, at admission)."""
    image = registry.repo("serving") + ":1"
    push_base(image, ("amd64",))
    run = modelpack("k8s", "--plain-http", image, flag, value)
    assert run.code == 2 and run.out == "", run.err
    example = "500m or 2" if flag == "--cpu" else "512Mi or 2Gi"  # 500m of memory is half a byte
    assert run.err == f"error: {flag} {value!r} is not a Kubernetes quantity of 0 or more: give e.g. {example}\n"


@pytest.mark.parametrize(("value", "why"), [
    ("0", "is no memory at all: give what the model server needs, e.g. 512Mi or 2Gi"),
    ("0Gi", "is no memory at all: give what the model server needs, e.g. 512Mi or 2Gi"),
    ("512m", "is 0.512 bytes (m means thousandths): write Mi for mebibytes, e.g. 512Mi"),
    ("1Ki", "is under 6Mi, a limit Docker refuses and no model server starts in: give e.g. 512Mi or 2Gi"),
    ("1e3", "is under 6Mi, a limit Docker refuses and no model server starts in: give e.g. 512Mi or 2Gi"),
    ("9000000Ei", "is more bytes than Kubernetes can hold (2^63-1): give e.g. 512Mi or 2Gi"),
    ("1e400", "is more bytes than Kubernetes can hold (2^63-1): give e.g. 512Mi or 2Gi")])
def test_k8s_refuses_a_memory_no_pod_runs_with(registry: Registry, value: str, why: str) -> None:
    """Quantities Kubernetes parses, but no model server runs in (or the API server cannot hold): they were
    written into the YAML as given."""
    image = registry.repo("serving") + ":1"
    push_base(image, ("amd64",))
    run = modelpack("k8s", "--plain-http", image, "--memory", value)
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == f"error: --memory {value!r} {why}\n"


@pytest.mark.parametrize(("cpu", "memory"), [("500m", "1.5Gi"), ("2", "512Mi"), ("1e3", "2G"), (".5", "6Mi"),
                                             ("0", "1e8")])
def test_k8s_writes_quantities_the_kubernetes_client_parses(registry: Registry, cpu: str, memory: str) -> None:
    parse_quantity = pytest.importorskip("kubernetes.utils").parse_quantity
    image = registry.repo("serving") + ":1"
    push_base(image, ("amd64",))
    run = modelpack("k8s", "--plain-http", image, "--cpu", cpu, "--memory", memory)
    assert run.code == 0, run.err
    resources = yaml.safe_load_all(run.out).__next__()["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert parse_quantity(resources["requests"]["cpu"]) == parse_quantity(cpu)
    assert parse_quantity(resources["limits"]["memory"]) == parse_quantity(memory)


@pytest.mark.parametrize(("kind", "extra"), [("deployment", ("--serving-image", "X")),
                                              ("kserve", ("--serving-image", "X")),
                                              ("deployment", ("--model-format", "onnx")),
                                              ("image-volume", ("--model-format", "onnx"))])
def test_k8s_refuses_options_its_kind_would_leave_out(registry: Registry, kind: str, extra: tuple[str, str]) -> None:
    image = registry.repo("serving") + ":1"
    run = modelpack("k8s", "--plain-http", "--kind", kind, image, *extra)
    assert run.code == 2 and run.out == "", run.err
    assert run.err.startswith(f"error: {extra[0]} applies to --kind ") and f"(--kind {kind} " in run.err


def test_deployment_gives_the_model_time_to_load_and_the_stop_time_to_drain(registry: Registry,
                                                                           model_ref: tuple[str, str]) -> None:
    ref, _ = model_ref
    image = _build(registry, ref, "serve", "--no-serving-layer", "--trust-unverified-pickle")[0]
    for args in ((image,), ("--kind", "image-volume", ref, "--serving-image", image, "--trust-unverified-pickle")):
        out = modelpack("k8s", "--plain-http", *args)
        assert out.code == 0, out.err
        pod = next(yaml.safe_load_all(out.out))["spec"]["template"]["spec"]
        container = pod["containers"][0]
        # serve listens only once the model is loaded: liveness (3 misses 10 s apart) would restart a pod
        # loading a large model, so a startup probe holds it off for minutes.
        startup = container["startupProbe"]
        assert startup["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
        assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
        # A probe waits behind the small inferences queued on serve's event loop (over 1 s under load):
        # Kubernetes' default 1 s timeout would restart a pod that is only busy.
        assert container["livenessProbe"]["timeoutSeconds"] >= 5
        assert container["readinessProbe"]["timeoutSeconds"] >= 2
        # Endpoints are updated seconds after the stop begins: serve keeps answering meanwhile (a preStop
        # sleep, which needs no `sleep` binary in the image), then drains for --request-timeout (30 s) after
        # SIGTERM: Kubernetes' default 30 s grace would SIGKILL it.
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pre_stop >= 3
        assert pod["terminationGracePeriodSeconds"] > pre_stop + 30
