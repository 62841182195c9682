"""From model to running service: build-image, Kubernetes YAML, and the V2 inference server."""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack import advice
from modelpack.advice import Wording, compose, setting
from modelpack.api.catalog import resolve
from modelpack.api.core import _store, inspect, inspect_fetched, parse_reference, remote
from modelpack.api.pulling import manifest_for_files, pull, unpack
from modelpack.errors import (
    AuthenticationError,
    InvalidReferenceError,
    NotFoundError,
    RegistryError,
    TransportError,
    UntrustedContentError,
    UsageError,
)
from modelpack.image.kinds import is_container_image
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.signatures.policy import policy_verdict
from modelpack.store.copy import CopyOptions, copy
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.prefetched import Prefetched

if TYPE_CHECKING:
    import socket

    from modelpack.serve.limits import ServerLimits
    from modelpack.serve.runtimes import Runtime

# The official Python image of the running Python's version: build-image installs modelpack[serve] on it.
DEFAULT_SERVE_BASE = f"docker.io/library/python:{sys.version_info.major}.{sys.version_info.minor}-slim"
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
DEFAULT_MODELCAR_BASE = "docker.io/library/busybox:1.36"
VERIFY_KEY = setting("verify_key=KEY", "--verify-key KEY")


@closes_own_options
def build_image(
    model: str | Reference,
    image: str | Reference,
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
) -> Descriptor:
    """A serving image (or with `modelcar`, KServe's modelcar shape) from a model, without a Docker
    engine: the base image's layers, for a serving image `modelpack[serve]` installed for the base's
    platform and Python (under /opt/modelpack, cached in the store), and the model's files under /models,
    pushed to `image`. Of a multi-platform base, a serving image is built for this machine's architecture.

    Args:
        model: the model artifact (from the local store, else its registry).
        image: where to push the image; needs a tag.
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

    Returns:
        The pushed image's (or index's) descriptor.

    Raises:
        UsageError: `model` is a container image, the base is not one, has no Python 3 (a serving image)
            or no `sh` (a modelcar, which KServe runs with `sh -c`), or `image` has no tag.
        UntrustedContentError: a serving image would load a pickle (the image's `serve /models` trusts its
            own directory), or a modelcar would hold a file KServe's runtimes unpickle (.joblib, .pkl,
            .pickle, PyTorch's .bin/.pt/.pth/.ckpt/.mar), and neither `verify_key`, a signature the
            policy verified, nor `trust_unverified_pickle` vouches for it.
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

    model_ref, image_ref = parse_reference(model), parse_reference(image)
    if not image_ref.tag:
        raise UsageError(f"{image}: give the image a tag")
    base_ref = parse_reference(base) if base is not None else None
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

    serving = None if modelcar or not serving_layer else _serving_installer(base_ref, local_store)
    host = _ARCHITECTURES.get(platform.machine().lower(), platform.machine().lower())
    with tempfile.TemporaryDirectory(prefix="modelpack-image-") as scratch:
        source = ModelSource(model_ref, desc, manifest, blob_path)
        if modelcar:
            from modelpack.image.modelcar import modelcar_files

            source.layout, source.extra = modelcar_files(model_ref, manifest, blob_path, model_ref.repository,
                                                         Path(scratch))
        return _build(source, base_ref, remote(base_ref, options), image_ref, remote(image_ref, options),
                      modelcar=modelcar, copy_options=copy_options, serving=serving,
                      architectures=(host,) if serving is not None else ())


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


def _serving_installer(base_ref: Reference, local_store: LayoutStore) -> Any:
    """What installs modelpack[serve] on each platform image of the base, caching in the local store."""
    from modelpack.image.serving_layer import serving_setup

    cache = local_store.root / "cache" / "serving-layers"
    return lambda config, layers, opener: serving_setup(config, layers, opener, str(base_ref), cache)


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
        verdict = policy_verdict(model_ref, source, signature_policy)
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


@closes_own_options
def serve_model(
    source: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    name: str | None = None,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    verify_key: str | Path | None = None,
    trust_unverified_pickle: bool = False,
    model_file: str | Path | None = None,
    limits: ServerLimits | None = None,
    sock: socket.socket | None = None,
    grpc_port: int | None = None,
    signature_policy: str | Path | None = None,
) -> Any:
    """An Open Inference Protocol (V2) server for a model directory or a reference (pulled, verified,
    unpacked). Returns the server; call `serve_forever()` on it.

    A pickle (.joblib/.pkl/.pickle) runs code when loaded. From a directory it is loaded (the user chose
    the directory); from a reference only if `verify_key` verified the artifact's signature (exactly the
    verified digest is then pulled) or `trust_unverified_pickle` says to run it anyway (logged as a
    warning). Without either, the manifest is read once by tag to refuse a pickle before anything is
    downloaded, and exactly that manifest's digest is pulled (a tag moved meanwhile changes nothing).
    ONNX and .skops files are preferred to pickles; see `modelpack.serve.model_file.choose`.

    Args:
        source: a model directory, or a reference to pull.
        host: address to listen on.
        port: port to listen on (0: any free port).
        name: the model's name in the API (default: from its metadata, else the directory's name).
        options: registry client options.
        store: the local store (default: the user's).
        verify_key: public key: verify the reference's signature before pulling it.
        trust_unverified_pickle: load a pickle from a reference whose signature was not verified.
        model_file: the file to serve, relative to the model directory (default: chosen from the files).
        limits: requests at once, request deadline and body size (default: `ServerLimits()`).
        sock: a listening socket to serve on instead of binding `host`:`port` (`serve --workers`).
        grpc_port: also serve the protocol over gRPC on this port (0: any free port; None: REST only).
        signature_policy: the containers-policy.json a reference must satisfy (default: the one in effect,
            see `pull`); a signature it verified counts as `verify_key`'s does (exactly that digest is pulled).

    Returns:
        The server (listening, not yet serving).

    Raises:
        UntrustedContentError: a pickle from an unverified reference, or a .skops file naming types
            outside the allow-list.
        VerificationError: `verify_key` given and no signature verifies, or the signature policy refuses
            the reference.
        MissingDependencyError: the `[serve]` extra is not installed.
        UsageError: no servable file, an ambiguous choice, a bad `model_file`, `source` neither a
            directory nor a reference, or an address that cannot be listened on.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached (a reference
            served).
    """
    import re

    from modelpack.serve.server import ServedModel, make_server

    path = Path(source)
    if path.is_dir():
        if verify_key is not None:
            raise UsageError(compose("{} checks a reference's signature; a directory is served as it is",
                                     VERIFY_KEY), advice=compose("verify it when pulling: {}", setting(
                                         "modelpack.pull(REF, output=DIR, verify_key=KEY)",
                                         "modelpack pull REF --verify-key KEY -o DIR")))
        from modelpack.metadata.restore import recorded_digest

        # The serving image says who it serves in its environment; a pulled directory in modelpack.yaml.
        digest = _env_digest() or recorded_digest(path)
        metadata = _directory_metadata(path)
        for field in ("name", "version"):
            if not metadata.get(field) and os.environ.get(f"MODELPACK_MODEL_{field.upper()}"):
                metadata[field] = os.environ[f"MODELPACK_MODEL_{field.upper()}"]
        runtime = _load_runtime(path, str(source), metadata, model_file, trusted=True)
        label = name or metadata.get("name") or path.resolve().name
    else:
        ref = _served_reference(source)
        verdict = policy_verdict(ref, remote(ref, options, mirrors=True), signature_policy)
        if verdict.digest is not None:
            ref = replace(ref, digest=verdict.digest)  # exactly what the policy verified
        checked = None
        if verify_key is None and not trust_unverified_pickle and not verdict.signed:
            # Pull the manifest the check read, not the tag again: a tag moved in between must not get
            # a model past the check that it never saw (nor download one the check would have refused).
            # The pull takes the manifest and config the check fetched: neither is fetched twice.
            checked = _refuse_unverified_pickle_early(ref, model_file, options, store)
            ref = replace(ref, digest=checked.descriptor.digest)
        pulled = pull(ref, options=options, store=store, verify_key=verify_key, prefetched=checked,
                      signature_policy=verdict)
        digest = pulled.descriptor.digest
        metadata = inspect(ref.with_digest(digest), store=store).metadata
        workdir = Path(tempfile.mkdtemp(prefix="modelpack-serve-"))
        try:  # the runtime holds the model in memory once loaded: the unpacked copy is not kept
            unpack(ref.with_digest(digest), workdir / "model", store=store)
            runtime = _load_runtime(workdir / "model", str(source), metadata, model_file,
                                    trusted=verify_key is not None or trust_unverified_pickle or verdict.signed,
                                    warn_unverified=verify_key is None and not verdict.signed)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        label = name or metadata.get("name") or ref.repository.rsplit("/", 1)[-1]
    served = ServedModel(re.sub(r"[^A-Za-z0-9_.-]+", "-", str(label)), runtime,
                         str(metadata["version"]) if metadata.get("version") else None, metadata, digest)
    return make_server(served, host, port, limits, sock=sock, grpc_port=grpc_port)


def pin_served(source: str, options: ClientOptions | None = None,
               signature_policy: str | Path | None = None) -> str:
    """`source` with its tag resolved to a digest, once (`serve --workers`: every worker then pulls,
    verifies and serves that one digest, even if the tag moves while they start); a directory, or a
    reference with a digest, as it is.

    Args:
        source: what `serve` was given.
        options: registry client options.
        signature_policy: checked here once, so a refusal is one line before any worker starts (each
            worker checks the pinned digest again, as the same tag).

    Returns:
        `REPO:TAG@DIGEST`, or `source` unchanged.

    Raises:
        NotFoundError: the tag names nothing.
        UsageError: `source` is neither a directory nor a reference.
        VerificationError: the signature policy refuses the reference.
    """
    if Path(source).is_dir():
        return source
    ref = _served_reference(source)
    verdict = policy_verdict(ref, remote(ref, options, mirrors=True), signature_policy)
    if ref.digest:
        return source
    return str(replace(ref, digest=verdict.digest or resolve(ref, options=options).digest))


def _served_reference(source: str | Path) -> Reference:
    """`source` as a reference, or the one-line reason it is neither a directory nor a reference."""
    path = Path(source)
    if path.exists():
        raise UsageError(f"{source}: not a directory (serve takes a model directory or a reference)")
    try:
        return parse_reference(str(source))
    except InvalidReferenceError:
        raise UsageError(f"{source}: no such directory (and not a reference)") from None


def _directory_metadata(path: Path) -> dict[str, Any]:
    if not (path / "modelpack.yaml").is_file():
        return {}
    from modelpack.metadata.load import load_metadata

    return load_metadata(path, default_name=path.resolve().name, use_git=False).model_dump(
        by_alias=True, exclude_none=True, mode="json")


def _refuse_unverified_pickle_early(ref: Reference, model_file: str | Path | None, options: ClientOptions | None,
                                    store: LayoutStore | None) -> Prefetched:
    """Refuse from the manifest alone, before gigabytes are downloaded, what `_load_runtime` would refuse
    once they were: a model whose only servable files are pickles, with no verified signature.
    Returns the manifest and config it read: the ones to pull."""
    from modelpack.serve import model_file as files

    info, fetched = inspect_fetched(ref, remote_only=True, options=options, store=store)
    paths = [f.path for f in info.files if f.path]
    packings = [mt.parse_layer_media_type(f.media_type) for f in info.files]
    if any(parsed is None or parsed[1] != "raw" for parsed in packings):
        return fetched  # archives (or other tools' layers): their files are known once unpacked
    if files.only_pickles(paths, model_file):
        named = str(model_file) if model_file is not None else ", ".join(p for p in paths if files.is_pickle(Path(p)))
        raise UntrustedContentError(
            f"refusing to serve {ref}: its model file ({named[:200]}) is a pickle, which runs code when loaded, "
            "and no signature was verified (nothing was downloaded)", advice=advice.VERIFY_OR_TRUST)
    return fetched


def _load_runtime(model_dir: Path, label: str, metadata: dict[str, Any], model_file: str | Path | None, *,
                  trusted: bool, warn_unverified: bool = False) -> Runtime:
    """The runtime for the model file chosen in `model_dir`; errors name `label` (what the user typed),
    not a temporary directory."""
    import logging

    from modelpack.serve import model_file as files
    from modelpack.serve.runtimes import load

    chosen = files.choose(model_dir, metadata.get("framework"), model_file, label=label)
    if files.is_pickle(chosen) and not trusted:
        raise UntrustedContentError(
            f"refusing to load {chosen.name} from {label}: a pickle runs code when loaded and the model's "
            "signature was not verified", advice=advice.VERIFY_OR_TRUST)
    if files.is_pickle(chosen) and warn_unverified:
        logging.getLogger("modelpack.serve").warning(
            "warning: loading %s from %s, a pickle whose signature was not verified "
            "(--trust-unverified-pickle): it runs as code with this process's privileges", chosen.name, label)
    return load(chosen)


def _env_digest() -> str | None:
    """MODELPACK_MODEL_DIGEST, where a serving image names its model: it labels every metric series and the
    model's metadata, so a value that is no digest (a typo in a Deployment) is refused, not served.

    Raises:
        UsageError: the variable is set to something other than `sha256:<64 hex>`.
    """
    value = os.environ.get("MODELPACK_MODEL_DIGEST", "").strip()
    if value and not digests.is_digest(value):
        raise UsageError(f"MODELPACK_MODEL_DIGEST={value!r} is not a digest (sha256:<64 hex>)")
    return value or None
