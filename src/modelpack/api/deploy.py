"""From model to running service: build-image, Kubernetes YAML, and the V2 inference server."""

from __future__ import annotations

import logging
import platform
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack.advice import Wording, compose, setting
from modelpack.api.catalog import resolve
from modelpack.api.core import _store, parse_parameter_reference, parse_reference, remote
from modelpack.api.store_unpack import manifest_for_files
from modelpack.errors import (
    AuthenticationError,
    ModelpackError,
    NotFoundError,
    RegistryError,
    TransportError,
    UsageError,
)
from modelpack.first_few import first_few
from modelpack.image.kinds import is_container_image
from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.places import LayoutReference, Place, open_layout, parse_place
from modelpack.signatures.policy import NO_IMAGE, policy_verdict
from modelpack.store.copy import CopyOptions, copy
from modelpack.store.layout import LayoutStore
from modelpack.store.nearest_tag import naming_nearest_tag
from modelpack.store.options import ClientOptions, closes_own_options

if TYPE_CHECKING:

    pass

# The official Python image of the running Python's version: build-image installs modelpack[serve] on it.
DEFAULT_SERVE_BASE = f"docker.io/library/python:{sys.version_info.major}.{sys.version_info.minor}-slim"
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
DEFAULT_MODELCAR_BASE = "docker.io/library/busybox:1.36"
VERIFY_KEY = setting("verify_key=KEY", "--verify-key KEY")


@closes_own_options
def build_image(
    model: str | Reference,
    image: str | Place,
    *,
    base: str | Reference | None = None,
    modelcar: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    copy_options: CopyOptions | None = None,
    serving_layer: bool = True,
    verify_key: str | Path | None = None,
    trust_unverified_pickle: bool = False,
    signature_policy: str | Path | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Descriptor:
    """A serving image (or with `modelcar`, KServe's modelcar shape) from a model, without a Docker
    engine: the base image's layers, for a serving image `modelpack[serve]` installed for the base's
    platform and Python (under /opt/modelpack, cached in the store), and the model's files under /models,
    pushed to `image`. Of a multi-platform base, a serving image is built for this machine's architecture.

    Args:
        model: the model artifact (from the local store, else its registry).
        image: where to push the image: a registry reference with a tag, or an OCI image layout
            directory `oci:DIR[:TAG]` (written offline, as `copy` writes one).
        base: the base image (default: python:3.X-slim for this Python, or busybox with `modelcar`).
        modelcar: KServe's modelcar: the base's command kept (its entrypoint moved into the command, as
            KServe passes `args` only) instead of running `modelpack serve`; an ONNX model in Triton's
            repository layout (`/models/NAME/1/`).
        options: registry client options.
        store: the local store (default: the user's).
        copy_options: transfer options for pushing the layers.
        serving_layer: install modelpack[serve] on the base (False: the base already runs `modelpack serve`,
            e.g. one built from serve/Dockerfile).
        verify_key: public key: the model's signature in its registry must verify (for exactly the digest
            built), as `serve REF --verify-key` checks it; then a pickle may be what the image serves.
        trust_unverified_pickle: build a serving image that loads, or a modelcar that holds, a pickle whose
            signature was not verified.
        signature_policy: the containers-policy.json a model fetched from its registry must satisfy (default:
            the one in effect, see `pull`); a signature it verified counts as `verify_key`'s does. A model
            already in the local store is not fetched, so not checked.
        on_step: told, in one line, of a step that takes long (pip installing the serving packages
            the local store's cache lacks: up to a minute on a first build).

    Returns:
        The pushed image's (or index's) descriptor.

    Raises:
        UsageError: `model` is a container image, the base is not one, has no Python 3 (a serving image)
            or no `sh` (a modelcar, which KServe runs with `sh -c`), `image` has no tag, or is a layout in a
            folder of other files.
        UntrustedContentError: a serving image would load a pickle (the image's `serve /models` trusts its
            own directory), or a modelcar would hold a file KServe's runtimes unpickle (.joblib, .pkl,
            .pickle, PyTorch's .pt/.pth/.ckpt/.mar, a .bin that could run code in torch.load), and neither
            `verify_key`, a signature the policy verified, nor `trust_unverified_pickle` vouches for it.
        VerificationError: `verify_key` given and no signature verifies, or the signature policy refuses the
            model.
        ModelpackError: pip could not install the serving packages.
        IntegrityError: the base's manifest or config is malformed.
        UnsupportedArtifactError: a base index with no platform image, or too many.
        AuthenticationError, TransportError, RegistryError: a registry (the model's, the base's or the image's)
            refused or could not be reached.
    """
    from modelpack.image.build import ModelSource
    from modelpack.image.build import build_image as _build

    model_ref, image_ref = parse_reference(model), parse_place(image)
    if isinstance(image_ref, Reference) and not image_ref.tag:
        raise UsageError(f"{image}: give the image a tag")
    if isinstance(image_ref, LayoutReference) and image_ref.digest:
        raise UsageError(f"{image}: a digest names an image already built; write oci:DIR[:TAG]")
    if isinstance(image_ref, LayoutReference):
        open_layout(image_ref, create=True)  # one that cannot be written is said before any registry is asked
    base_ref = parse_parameter_reference("base", base) if base is not None else None
    local_store = _store(store)
    # The model first: the user's input.
    desc, manifest, signed = _model_for_image(local_store, model_ref, options, signature_policy)
    for layer in manifest.layers:
        local_store.verify_blob(layer)  # the image is built from these bytes: check them first
    if verify_key is not None:
        from modelpack.signatures import keys, referrers

        referrers.verify_signatures(remote(model_ref, options, mirrors=True), desc.digest,
                                    keys.load_public_key(Path(verify_key)))
    elif not trust_unverified_pickle and not signed:
        _refuse_unverified_pickle_image(model_ref, manifest, local_store, modelcar)
    if base_ref is None:
        base_ref = _default_image(DEFAULT_MODELCAR_BASE if modelcar else DEFAULT_SERVE_BASE,
                                  "modelcar base" if modelcar else "serving base",
                                  setting("base=IMAGE", "--base IMAGE"), options)

    def blob_path(digest: str) -> Path:
        return local_store.blob_path(digest)

    serving = None if modelcar or not serving_layer else _serving_installer(base_ref, local_store, on_step)
    host = _ARCHITECTURES.get(platform.machine().lower(), platform.machine().lower())
    with tempfile.TemporaryDirectory(prefix="modelpack-image-") as scratch:
        source = ModelSource(model_ref, desc, manifest, blob_path)
        if modelcar:
            from modelpack.image.modelcar import modelcar_files

            source.layout, source.extra = modelcar_files(model_ref, manifest, blob_path, model_ref.repository,
                                                         Path(scratch))
        dst = open_layout(image_ref, create=True) if isinstance(image_ref, LayoutReference) \
            else remote(image_ref, options)
        built = _build(source, base_ref, remote(base_ref, options), image_ref, dst,
                       modelcar=modelcar, copy_options=copy_options, serving=serving,
                       architectures=(host,) if serving is not None else ())
    if modelcar:  # (said once it is built: before, it came ahead of a refusal of the base)
        _say_if_kserve_cannot_load(model_ref, desc, manifest, local_store)
    return built


def _say_if_kserve_cannot_load(model_ref: Reference, desc: Descriptor, manifest: Manifest,
                               local_store: LayoutStore) -> None:
    """Warn, building a modelcar, when KServe's runtime for the model's framework loads none of its files (the
    quick start's `.skops` model): `k8s --kind kserve` refuses such a modelcar, which is better known now."""
    import json

    from modelpack.image import k8s
    from modelpack.model_info import ModelInfo

    try:
        config = json.loads(local_store.read_blob_bytes(manifest.config))
    except (ValueError, ModelpackError):
        return  # not JSON, or not there: no framework to go by
    info = ModelInfo.read(str(model_ref), desc, manifest, config if isinstance(config, dict) else None)
    model_format = k8s.kserve_format(info.framework) if info.framework else None
    paths = [f.path for f in info.files if f.path]
    loads = k8s.runtime_cannot_load(model_format, paths) if model_format else None
    if loads is not None:
        shown = first_few(paths, 3)
        logging.getLogger("modelpack.image").warning(
            "warning: KServe's %s runtimes load only %s files and %s holds %s: `k8s --kind kserve` will refuse "
            "this modelcar (a serving image, built without --modelcar, serves the model)", model_format,
            "/".join(loads), model_ref, shown)


def _refuse_unverified_pickle_image(model_ref: Reference, manifest: Manifest, local_store: LayoutStore,
                                    modelcar: bool) -> None:
    """Of the model's files as the image will hold them: for a serving image, the file its `serve /models`
    would load must not be a pickle (`served_file`); for a modelcar, which KServe's runtime loads by its
    own choice, no file may be one a runtime unpickles (`modelcar`)."""
    from modelpack.image.layers import model_files
    from modelpack.image.modelcar import refuse_unverified_pickles
    from modelpack.image.served_file import refuse_unverified_pickle

    try:
        entries = model_files(manifest, local_store.blob_path)
    except ValueError:
        return  # an archive layer: build-image refuses the model itself
    files = {entry.path.split("/", 1)[1]: entry.source for entry in entries}
    if modelcar:
        refuse_unverified_pickles(files, model_ref)
    else:
        refuse_unverified_pickle(files, f"build a serving image of {model_ref}")


def _serving_installer(base_ref: Reference, local_store: LayoutStore,
                       on_step: Callable[[str], None] | None) -> Any:
    """What installs modelpack[serve] on each platform image of the base, caching in the local store."""
    from modelpack.image.serving_layer import serving_setup

    cache = local_store.root / "cache" / "serving-layers"
    return lambda config, layers, opener: serving_setup(config, layers, opener, str(base_ref), cache, on_step)


def _model_for_image(local_store: LayoutStore, model_ref: Reference, options: ClientOptions | None,
                     signature_policy: str | Path | None) -> tuple[Descriptor, Manifest, bool]:
    """The model to build an image from, in the local store (copied there if needed, once the signature
    policy allows it), and whether the policy verified its signature; a container image is refused
    before its layers are copied."""
    target = local_store.repository(model_ref.name)
    desc = target.find(model_ref.version) if model_ref.registry or model_ref.digest else None
    signed = False
    if desc is None:
        source = remote(model_ref, options, mirrors=True)
        with naming_nearest_tag(source, model_ref):  # a typo'd tag names the nearest, a blob's digest says so
            verdict = policy_verdict(model_ref, source, signature_policy, NO_IMAGE)
            version = verdict.digest or model_ref.version  # exactly what the policy verified
            _refuse_image_as_model(model_ref, parse_manifest(source.fetch_manifest(version)[1]))
        desc = copy(source, target, version, model_ref.tag).descriptor
        signed = verdict.signed
    pinned = model_ref.with_digest(desc.digest)
    _refuse_image_as_model(model_ref, parse_manifest(local_store.read_blob_bytes(local_store.resolve(pinned))))
    return desc, manifest_for_files(local_store, pinned), signed


def _refuse_image_as_model(ref: Reference, node: Manifest | Index) -> None:
    if is_container_image(node):
        raise UsageError(f"{ref} is a container image, not a model artifact: an image is built from a model "
                         "(one modelpack pushed)")


def _default_image(image: str, what: str, option: Wording, options: ClientOptions | None) -> Reference:
    """`image`, pinned by digest, when the user gave none: if it cannot be had, the error names the
    image and the option to use instead (not just a host that does not resolve).

    Raises:
        ModelpackError: of the same kind as the registry's failure (exit code kept), reworded.
    """
    ref = parse_reference(image)
    try:
        return ref.with_digest(resolve(ref, options=options).digest)
    except (NotFoundError, AuthenticationError, TransportError, RegistryError) as exc:
        hint = " (any image with python3, e.g. python:3.11-slim from a registry you reach)" if "serv" in what else ""
        raise type(exc)(f"the default {what} {image} is not available ({exc.failure})",
                        advice=compose("pass {} to use another{}", option, hint)) from None
