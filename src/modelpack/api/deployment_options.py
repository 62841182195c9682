"""The options of `kubernetes` (`modelpack k8s`) checked before any registry is asked."""

from __future__ import annotations

import re
from collections.abc import Sequence

from modelpack.advice import WHOLE_LAYERS, compose, setting
from modelpack.api.core import parse_parameter_reference
from modelpack.api.deployment_wording import given, named
from modelpack.errors import UsageError
from modelpack.image import kube_version
from modelpack.image.quantity import cpu_problem, memory_problem
from modelpack.oci.reference import Reference

KINDS = ("deployment", "kserve", "image-volume")
MAX_REPLICAS = 2**31 - 1  # an int32 in the Deployment and InferenceService schemas
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_1123_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_options(kind: str, name: str | None, namespace: str | None, image_pull_secrets: Sequence[str] | str,
                  replicas: int, cpu: str, memory: str, serving_image: str | Reference | None,
                  model_format: str | None, whole_layers: bool, trust_unverified_pickle: bool,
                  kube: str | None) -> tuple[tuple[str, ...], tuple[int, int] | None]:
    """Refuse a value Kubernetes would refuse, or an option the kind does not use (else silently left out).

    Args:
        kind, name, namespace, image_pull_secrets, replicas, cpu, memory, serving_image, model_format,
            whole_layers, trust_unverified_pickle: as `kubernetes` takes them.
        kube: the cluster's Kubernetes version (`kube_version`), or None for a current one.

    Returns:
        The pull Secrets' names (each once, in order) and the cluster's (major, minor) version or None.

    Raises:
        UsageError: naming the option and what it takes.
    """
    if kind not in KINDS:
        raise UsageError(compose("{}: expected deployment, kserve or image-volume", given("kind", kind, quoted=True)))
    if name is not None and not _DNS_1035.match(name):
        raise UsageError(compose("{} is not a DNS-1035 label (lower-case letters, digits and '-', starting with a "
                                 "letter, at most 63)", given("name", name, quoted=True)))
    if namespace is not None and not _DNS_1123.match(namespace):
        raise UsageError(compose("{} is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)",
                                 given("namespace", namespace, quoted=True)))
    secrets = (image_pull_secrets,) if isinstance(image_pull_secrets, str) else tuple(image_pull_secrets)
    for secret in secrets:
        if not isinstance(secret, str) or not _DNS_1123_SUBDOMAIN.match(secret):
            raise UsageError(compose("{} is not a Secret's name (a DNS-1123 subdomain: lower-case letters, digits, "
                                     "'-' and '.', at most 253)",
                                     setting(f"image_pull_secrets=[{secret!r}]", f"--image-pull-secret {secret!r}")))
    if not 0 <= replicas <= MAX_REPLICAS:
        raise UsageError(compose("{}: give 0 to {} (Kubernetes holds replicas as a 32-bit number)",
                                 given("replicas", replicas), str(MAX_REPLICAS)))
    for param, value, problem in (("cpu", cpu, cpu_problem(cpu)), ("memory", memory, memory_problem(memory))):
        if problem is not None:
            raise UsageError(compose("{} " + problem.replace("{", "{{").replace("}", "}}"),
                                     given(param, value, quoted=True)))
    if serving_image is not None and kind != "image-volume":  # else silently left out of the YAML
        raise UsageError(compose("{} applies to {} only ({} runs REF itself)", named("serving_image"),
                                 given("kind", "image-volume"), given("kind", kind)))
    if model_format is not None and kind != "kserve":
        raise UsageError(compose("{} applies to {} only ({} writes no modelFormat)", named("model_format"),
                                 given("kind", "kserve"), given("kind", kind)))
    if whole_layers and kind != "kserve":
        raise UsageError(compose("{} applies to {} only (a modelcar's pickle check)", WHOLE_LAYERS,
                                 given("kind", "kserve")))
    if trust_unverified_pickle and kind == "deployment":  # its image's pickle was build-image's to trust
        raise UsageError(compose("{} applies to {} and {} only (a Deployment runs a serving image: trusting a pickle "
                                 "was for {} to decide)", named("trust_unverified_pickle"),
                                 given("kind", "image-volume"), given("kind", "kserve"),
                                 setting("build_image()", "build-image")))
    if serving_image is not None:
        parse_parameter_reference("serving_image", serving_image)  # a bad one said before anything is fetched
    return tuple(dict.fromkeys(secrets)), _cluster(kind, kube)


def _cluster(kind: str, kube: str | None) -> tuple[int, int] | None:
    if kube is None:
        return None
    if kind == "kserve":  # KServe writes the pod: nothing here depends on the version
        raise UsageError(compose("{} applies to {} and {} only (KServe writes the predictor's pod)",
                                 named("kube_version"), given("kind", "deployment"), given("kind", "image-volume")))
    version = kube_version.parse(kube)
    if version is None:
        raise UsageError(compose("{} is not a Kubernetes version: give MAJOR.MINOR, the server's as `kubectl "
                                 "version` shows it (e.g. 1.29)", given("kube_version", kube, quoted=True)))
    if version < kube_version.OLDEST:
        raise UsageError(compose("{}: the YAML needs Kubernetes 1.20 or later (its startupProbe)",
                                 given("kube_version", kube, quoted=True)))
    if kind == "image-volume" and version < kube_version.IMAGE_VOLUMES:
        raise UsageError(compose("{} needs Kubernetes 1.33 or later (image volumes), not {}",
                                 given("kind", "image-volume"), given("kube_version", kube, quoted=True)),
                         advice=compose("deploy a serving image with {} instead", given("kind", "deployment")))
    return version
