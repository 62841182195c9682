"""Kubernetes YAML for a model: a Deployment and Service for a serving image, a KServe InferenceService
(a modelcar image as `storageUri: oci://`, or a serving image as a custom predictor container), or a
Deployment mounting the model artifact as a Kubernetes image volume. Every reference is pinned by digest."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelpack.advice import Wording, compose, setting
from modelpack.api.core import inspect, parse_reference, remote
from modelpack.api.deployment_options import check_options
from modelpack.api.deployment_trust import (
    refuse_unverified_pickle_volume,
    unvouched,
    unvouched_modelcar,
    verify_deployed,
)
from modelpack.api.deployment_wording import build_image_wording as _build_image
from modelpack.api.deployment_wording import check_runtime_layout, check_runtime_loads
from modelpack.api.deployment_wording import given as _given
from modelpack.api.deployment_wording import named as _named
from modelpack.errors import NotFoundError, UsageError
from modelpack.first_few import first_few
from modelpack.image.kinds import A_MODEL_REFERENCE, built_from, is_container_image, kind_of
from modelpack.image.serving import model_identity
from modelpack.metadata.mapping import metadata_view
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Index, Manifest, parse_manifest
from modelpack.oci.jsontext import parse_or_none
from modelpack.oci.reference import Reference
from modelpack.signatures.policy import NO_YAML, policy_verdict
from modelpack.store.nearest_tag import naming_nearest_tag
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.pinned_tag import say_tag_disagrees
from modelpack.store.target import read_small
from modelpack.unpacking import layer_is_archive, layer_path

log = logging.getLogger("modelpack.deploy")



@closes_own_options
def kubernetes(
    reference: str | Reference,
    kind: str = "deployment",
    *,
    serving_image: str | Reference | None = None,
    cpu: str = "1",
    memory: str = "2Gi",
    model_format: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
    replicas: int = 1,
    image_pull_secrets: Sequence[str] = (),
    options: ClientOptions | None = None,
    verify_key: str | Path | None = None,
    trust_unverified_pickle: bool = False,
    signature_policy: str | Path | None = None,
    whole_layers: bool = False,
    kube_version: str | None = None,
) -> str:
    """YAML for running a model. Tags are resolved now: every reference in the output is pinned by digest.

    - `deployment`: REF is a serving image (`build_image`); a Deployment and a Service.
    - `kserve`: REF is a modelcar image (`build_image(..., modelcar=True)`), which KServe's modelcars
      feature mounts at /mnt/models from `storageUri: oci://`; or a serving image, run as the
      InferenceService's custom predictor container. A model artifact itself is refused: KServe's oci://
      takes runnable images only (mount an artifact with `image-volume`).
    - `image-volume`: REF is the model artifact, mounted read-only at /models into `serving_image`
      (Kubernetes image volumes).

    Args:
        reference: a serving or modelcar image, or a model artifact (see above).
        kind: deployment, kserve or image-volume.
        serving_image: with image-volume, the image that serves /models (required).
        cpu: CPU request.
        memory: memory request and limit.
        model_format: KServe's modelFormat name (default: from the model's recorded framework).
        name: the objects' name (default: from the repository), a DNS-1035 label.
        namespace: the objects' namespace (default: none written, kubectl's current one).
        replicas: pods (Deployment `replicas`; KServe `minReplicas` and `maxReplicas`).
        image_pull_secrets: names of Secrets (kubernetes.io/dockerconfigjson) in the namespace the kubelet
            pulls the images and the image volume with, for a registry that needs a login: the pod's (or
            KServe predictor's) `imagePullSecrets`.
        options: registry client options.
        verify_key: a public key the signature of what the YAML pins must verify with (the artifact with
            image-volume, the image otherwise); with image-volume (kserve), a pickle may then be what the
            serving image (runtime) loads.
        trust_unverified_pickle: with image-volume, mount a model whose served file is a pickle; with kserve,
            write a modelcar whose /models holds one; although its signature was not verified.
        signature_policy: the containers-policy.json that REF (and a serving image) must satisfy (default: the
            one in effect, see `pull`); the YAML then pins the digest it verified, and a signature it verified
            counts as `verify_key`'s does.
        whole_layers: with kserve, the pickle check downloads each modelcar layer the local store lacks whole
            and verifies its digest (default: an uncompressed one over 16 MiB is read by its tar headers
            through byte ranges, which are not bound to its digest, and a warning says so).
        kube_version: the cluster's Kubernetes version (e.g. "1.29"; default: a current one): before 1.30
            the Deployment's preStop pause is an exec of the serving image's Python, not the sleep action
            (`image.kube_version`); image-volume needs 1.33.

    Returns:
        The YAML documents (no anchors or aliases).

    Raises:
        UsageError: an unknown kind, an image where a model is expected (or the reverse), a bad name,
            namespace, pull Secret name, replica count, cpu/memory quantity or Kubernetes version (image-volume
            before 1.33), an option the kind does not use,
            or no framework for a modelcar (or one it records in another registry, not asked) and no
            `model_format`.
        UntrustedContentError: with image-volume, the serving image would load a pickle (it serves the mounted
            /models as a directory); with kserve, the modelcar's /models holds a file a runtime unpickles, or a
            link, or a layer could be checked only by downloading it whole (a registry that serves no byte
            ranges); and neither `verify_key`, a signature the policy verified, nor `trust_unverified_pickle`
            vouches for it.
        IntegrityError: with kserve, a modelcar's layer is not a readable tar, crosses a size limit, or (a
            compressed one, read whole) does not match its digest.
        VerificationError: `verify_key` given and no signature verifies, or the signature policy refuses a
            reference.
        NotFoundError, AuthenticationError, TransportError: from the registry.
        RegistryError: the registry refused or could not be reached.
    """
    from modelpack.image import k8s

    secrets, cluster = check_options(kind, name, namespace, image_pull_secrets, replicas, cpu, memory, serving_image,
                                     model_format, whole_layers, trust_unverified_pickle, kube_version)
    ref = parse_reference(reference)
    verdict = policy_verdict(ref, remote(ref, options, mirrors=True), signature_policy, NO_YAML)
    pinned, node = _remote_node(replace(ref, digest=verdict.digest) if verdict.digest else ref, options)
    _warn_tag_disagrees(ref, options)
    name = name or k8s.name_for(ref.repository)
    where = k8s.Placement(name, namespace, replicas, secrets)
    if kind == "deployment":
        if not is_container_image(node):
            # (--kind kserve refuses the artifact too: it takes a modelcar image built from it)
            raise UsageError(f"{reference} is {kind_of(node)}, not a container image", advice=compose(
                "build a serving image with {} and pass IMAGE, or mount the artifact with {} {} ({} takes an image "
                "built with {})", _build_image(reference), _given("kind", "image-volume"),
                _named("serving_image", "IMAGE"), _given("kind", "kserve"), setting("modelcar=True", "--modelcar")))
        # (its pod would run the modelcar's `sleep` and never answer the probes on 8080)
        _refuse_modelcar(node, str(reference), compose("deploy it with {}, or build a serving image with {} and pass "
                                                       "it", _given("kind", "kserve"),
                                                       _build_image(built_from(node) or "MODEL")))
        pre_stop = _pre_stop(cluster, ref, node, options)
        verify_deployed(ref, pinned, verify_key, options)
        return k8s.render([k8s.deployment(where, pinned, cpu, memory, pre_stop=pre_stop), k8s.service(where)])
    if kind == "kserve":
        if not is_container_image(node):
            raise UsageError(f"{reference} is a model artifact: KServe's storageUri oci:// takes a modelcar image",
                             advice=compose("build one with {} and pass IMAGE (or use {} to mount the artifact "
                                            "itself)", _build_image(reference, modelcar=True),
                                            _given("kind", "image-volume")))
        if _runs_modelpack_serve(ref, node, options):
            if model_format is not None:  # else silently left out: the image is its own runtime
                raise UsageError(compose("{} applies to a modelcar; {} is a serving image, run as the predictor's "
                                         "container with no modelFormat", _named("model_format"), str(reference)))
            verify_deployed(ref, pinned, verify_key, options)
            return k8s.render([k8s.inference_service_container(where, pinned, cpu, memory)])
        try:
            recorded, paths = _recorded_model(ref, node, options, model_format)
        except NotFoundError:  # the modelcar holds the files; only the framework it reads there is lost
            if model_format is None:
                raise UsageError(f"{reference} was built from {built_from(node) or 'a model'}, which is no longer "
                                 "in its registry, so its framework cannot be read", advice=compose(
                                     "pass {} (e.g. sklearn, onnx) for KServe's modelFormat",
                                     _named("model_format", "NAME"))) from None
            recorded, paths = None, []
        framework = model_format or recorded
        if not framework:
            raise UsageError(f"{reference} records no model framework", advice=compose(
                "pass {} (e.g. sklearn, onnx) for KServe's modelFormat", _named("model_format", "NAME")))
        if not model_format:
            check_runtime_loads(str(reference), k8s.kserve_format(framework), paths)
        check_runtime_layout(str(reference), k8s.kserve_format(framework), node, paths)
        if unvouched_modelcar(ref, pinned, verify_key, trust_unverified_pickle or verdict.signed, options):
            from modelpack.image.modelcar_contents import refuse_unverified_modelcar
            from modelpack.store.layout import LayoutStore

            refuse_unverified_modelcar(remote(Reference.parse(pinned), options, mirrors=True), node, str(ref),
                                       whole=whole_layers, local=LayoutStore())
        return k8s.render([k8s.inference_service(where, f"oci://{pinned}", framework, cpu, memory)])
    if is_container_image(node):
        raise UsageError(compose("{} is a container image; {} takes the model artifact ({} runs a serving image)",
                                 str(reference), _given("kind", "image-volume"), _given("kind", "deployment")))
    _warn_tar_layers(node)
    if not serving_image:  # no published serving image: the user builds one (a Python base alone does not serve)
        raise UsageError(compose("{} needs {}", _given("kind", "image-volume"), _named("serving_image", "IMAGE")),
                         advice=compose("build one with {} (it serves the mounted /models)", _build_image(reference)))
    server_ref = parse_reference(serving_image)
    server_verdict = policy_verdict(server_ref, remote(server_ref, options, mirrors=True), signature_policy,
                                    NO_YAML)
    server_pinned, server_node = _remote_node(
        replace(server_ref, digest=server_verdict.digest) if server_verdict.digest else server_ref, options)
    _warn_tag_disagrees(server_ref, options)
    if not is_container_image(server_node):
        raise UsageError(compose("{} is {}, not a container image", _named("serving_image", str(serving_image)),
                                 kind_of(server_node)))
    server_config = _check_server(server_ref, server_pinned, server_node, serving_image, reference, options)
    digest = pinned.split("@")[1]
    if unvouched(ref, pinned, verify_key, trust_unverified_pickle or verdict.signed, options):
        refuse_unverified_pickle_volume(ref, digest, node, options)
    meta = metadata_view(node.annotations, None)
    # Every variable is set, an empty one too: the serving image's own values name the model it was built from.
    # Only printable values, as build-image writes them (a line break or an escape would reach the container).
    identity = {"name": "", "version": "", **model_identity(meta), "digest": digest}
    from modelpack.image.serving_check import serving_image_problems

    problems = serving_image_problems(server_config, [p for layer in node.layers if (p := layer_path(layer))]
                                      if isinstance(node, Manifest) else [], meta.get("framework"))
    if problems:  # said once the YAML is to be written, not before a refusal
        log.warning("%s %s", serving_image, "; it ".join(problems))
    return k8s.render([k8s.deployment(where, server_pinned, cpu, memory, volume_image=pinned,
                                      model_digest=digest, identity=identity), k8s.service(where)])


def _pre_stop(cluster: tuple[int, int] | None, ref: Reference, node: Manifest | Index,
              options: ClientOptions | None) -> dict[str, Any]:
    """The serving image's preStop pause for `cluster`: before 1.30 an exec of the Python the image records
    (read from its config only then)."""
    from modelpack.image import k8s, kube_version
    from modelpack.image.serving_layer import LABEL

    if cluster is None or cluster >= kube_version.SLEEP_ACTION:
        return kube_version.pre_stop(cluster, k8s.PRE_STOP_SECONDS)
    config = _image_config(ref, node, options) or {}
    labels = (config.get("config") or {}).get("Labels") if isinstance(config.get("config"), dict) else None
    interpreter = labels.get(f"{LABEL}python.interpreter") if isinstance(labels, dict) else None
    return kube_version.pre_stop(cluster, k8s.PRE_STOP_SECONDS, interpreter)


def _check_server(server_ref: Reference, server_pinned: str, server_node: Manifest | Index,
                  serving_image: str | Reference, reference: str | Reference,
                  options: ClientOptions | None) -> dict[str, Any] | None:
    """A modelcar given as the serving image is refused (it holds a model and runs no server: a pod would
    fail on `modelpack serve`). Returns the image's (first platform's) config, which says what else it lacks
    (`serving_check`), or None when it has none to read."""
    _refuse_modelcar(server_node, _named("serving_image", str(serving_image)),
                     compose("build a serving image with {} and pass it", _build_image(reference)))
    return _image_config(server_ref, server_node, options)


def _refuse_modelcar(node: Manifest | Index, shown: Wording | str, advice: Wording) -> None:
    """Refuse a modelcar where a serving image is to run: it holds a model and runs no server.

    Raises:
        UsageError: `node` is a modelcar `build-image` made (its layout annotation).
    """
    from modelpack.image.modelcar import LAYOUT_ANNOTATION

    if LAYOUT_ANNOTATION in (node.annotations or {}):
        raise UsageError(compose("{} is a modelcar (built with {}): it holds a model and runs no server", shown,
                                 setting("modelcar=True", "--modelcar")), advice=advice)


def _warn_tar_layers(node: Manifest | Index) -> None:
    """CRI-O mounts an image volume's layers as they are: a folder packed as one tar layer
    (`files.archives`, `files.compress`) appears as a single tar file, not as the folder."""
    layers = node.layers if isinstance(node, Manifest) else []
    # A tar by its packing (ours, KitOps') or oras's unpack mark; not `oras push`'s plain files, which it
    # labels `layer.v1.tar` and an image volume mounts as the files they are.
    packed = [layer_path(layer) or layer.digest for layer in layers if layer_is_archive(layer)]
    if packed:
        shown = first_few(packed, 5)
        log.warning("an image volume shows tar layers as single files, not folders: %s (pack them as one "
                    "layer per file, without files.archives or files.compress, to mount them as files)", shown)


def _remote_node(ref: Reference, options: ClientOptions | None) -> tuple[str, Manifest | Index]:
    """`ref` pinned by digest, and its manifest or index, from its registry (a typo'd tag names the nearest
    one, a blob's digest says so)."""
    repo = remote(ref, options, mirrors=True)
    with naming_nearest_tag(repo, ref):
        desc, data = repo.fetch_manifest(ref.version)
    return str(ref.with_digest(desc.digest)), parse_manifest(data)


def _warn_tag_disagrees(ref: Reference, options: ClientOptions | None) -> None:
    """REPO:TAG@DIGEST is pinned by its digest, as Kubernetes pulls it; a tag naming another digest is said."""
    say_tag_disagrees(remote(ref, options, mirrors=True), ref, log, f"the YAML pins {ref.digest}, the digest given")


def _runs_modelpack_serve(ref: Reference, node: Manifest | Index, options: ClientOptions | None) -> bool:
    """Whether the image's (first platform's) entrypoint is `modelpack serve`: a serving image, not a modelcar."""
    config = _image_config(ref, node, options)
    settings = config.get("config") if config is not None else None
    entrypoint = settings.get("Entrypoint") if isinstance(settings, dict) else None
    return isinstance(entrypoint, list) and entrypoint[:2] == ["modelpack", "serve"]


def _image_config(ref: Reference, node: Manifest | Index, options: ClientOptions | None) -> dict[str, Any] | None:
    """The config of the image (of an index: its first platform's), or None when it has none that reads."""
    target = remote(ref, options, mirrors=True)
    if isinstance(node, Index):
        child = next((m for m in node.manifests if m.platform is None or m.platform.os != "unknown"), None)
        if child is None:
            return None
        node = parse_manifest(target.fetch_manifest(child.digest)[1])
        if not isinstance(node, Manifest):
            return None
    config = parse_or_none(read_small(target, node.config, MAX_MANIFEST_BYTES))
    return config if isinstance(config, dict) else None


def _recorded_model(ref: Reference, node: Manifest | Index, options: ClientOptions | None,
                    model_format: str | None) -> tuple[str | None, list[str]]:
    """The framework and file paths of the model a modelcar was built from (its
    `io.modelpack.model.reference`), asked of the image's own registry only: the annotation is the
    registry's to write, and any host it names would be contacted (with the user's login there).

    Raises:
        UsageError: it names another registry and no `model_format` was given.
    """
    model = (node.annotations or {}).get(A_MODEL_REFERENCE)
    if not model:
        return None, []
    try:
        recorded = parse_reference(model)
    except UsageError:
        return None, []
    if recorded.registry != ref.registry:
        if model_format is not None:
            return None, []  # nothing to read there
        raise UsageError(f"{ref} records its model in another registry, {recorded.registry}, which "
                         "is not asked", advice=compose("pass {} (e.g. sklearn, onnx) for KServe's modelFormat",
                                                        _named("model_format", "NAME")))
    try:
        info = inspect(recorded, remote_only=True, options=options)
    except UsageError:
        return None, []
    return (str(info.framework) if info.framework else None), [f.path for f in info.files if f.path]
