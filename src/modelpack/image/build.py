"""`build-image` without a daemon: read the base image's manifest and config from its registry, append
the model's files as layers under /models, write a config that records the model's digest (and, for a
serving image, runs `modelpack serve`), and push. Base layers are mounted within one registry, or
streamed across registries; they are never unpacked. A multi-platform base gets the model appended to
every platform, and an index is pushed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelpack.advice import ANOTHER_BASE, compose, setting
from modelpack.errors import UnsupportedArtifactError, UsageError
from modelpack.image.base_config import checked_config
from modelpack.image.base_shell import require_shell
from modelpack.image.kinds import A_MODEL_DIGEST, A_MODEL_REFERENCE, is_container_image, kind_of
from modelpack.image.layers import FileEntry, epoch_of, group, image_time, model_files, tar_chunks
from modelpack.image.modelcar import LAYOUT_ANNOTATION, Layout
from modelpack.image.serving import SERVE_COMMAND, SERVE_PORT, model_identity
from modelpack.image.serving_layer import ServingSetup
from modelpack.metadata.mapping import metadata_view
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Descriptor, Index, Manifest, json_bytes, parse_manifest
from modelpack.oci.jsontext import encodable
from modelpack.oci.reference import Reference
from modelpack.places import LayoutReference
from modelpack.store.copy import BlobPipeline, CopyOptions
from modelpack.store.target import Storage, read_small
from modelpack.streams import IterStream

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
# Each platform of a base index becomes one image (its config read, its layers copied), so the count is
# bounded. Official multi-platform images list up to ~10 platforms plus as many attestation manifests;
# 64 leaves room for every real base while keeping a hostile 5,000-entry index from driving a build.
MAX_BASE_PLATFORMS = 64
A_BASE_NAME = "org.opencontainers.image.base.name"
A_BASE_DIGEST = "org.opencontainers.image.base.digest"
_DOCKER_TO_OCI = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}


@dataclass
class ModelSource:
    reference: Reference
    descriptor: Descriptor
    manifest: Manifest
    blob_path: Callable[[str], Any]
    layout: Layout = dataclasses.field(default_factory=Layout)  # where its files go under /models
    extra: list[FileEntry] = dataclasses.field(default_factory=list)  # files written for the runtime (Triton's config)


@dataclass
class _ModelLayer:
    descriptor: Descriptor
    entries: list[Any]
    mtime: int

    def open(self) -> IterStream:
        return IterStream(tar_chunks(self.entries, self.mtime))


# Builds the serving layers for one platform of the base: (its config, its layers, a layer opener) -> setup.
ServingInstaller = Callable[[dict[str, Any], list[Descriptor], Callable[[Descriptor], Any]], ServingSetup]


def build_image(model: ModelSource, base_ref: Reference, base: Storage, image_ref: Reference | LayoutReference,
                dst: Storage, *, modelcar: bool, copy_options: CopyOptions | None = None,
                serving: ServingInstaller | None = None, architectures: tuple[str, ...] = ()) -> Descriptor:
    """Build and push an image: the base's layers, then (for a serving image) the serving layers, then the
    model's files under /models.

    Args:
        model: the model, in the local store.
        base_ref: the base image.
        base: where the base is read from.
        image_ref: where the image goes: a registry reference with a tag, or an OCI layout (tag optional).
        dst: where it is pushed.
        modelcar: keep the base's command (KServe modelcar) rather than run `modelpack serve`.
        copy_options: transfer options.
        serving: installs modelpack[serve] for each platform (None: the base already runs modelpack).
        architectures: of a multi-platform base, build these only (empty: every platform).

    Returns:
        The pushed manifest's (or index's) descriptor.

    Raises:
        UsageError: the model has no files, the base is not an image, or no platform of it is wanted.
        UnsupportedArtifactError: a base index with too many entries, none of them a platform image.
        IntegrityError: the base's config is malformed.
    """
    meta = metadata_view(model.manifest.annotations, None)
    mtime = epoch_of(meta.get("created"))
    layers = []
    files = sorted([*model_files(model.manifest, model.blob_path, model.layout.root), *model.extra],
                   key=lambda e: e.path)
    for entries in group(files):
        digest, size = digests.of_stream(IterStream(tar_chunks(entries, mtime)))
        layers.append(_ModelLayer(Descriptor(mediaType=OCI_LAYER, digest=digest, size=size), entries, mtime))
    if not layers:
        raise UsageError(f"{model.reference} has no files to put under /models")
    base_desc, base_data = base.fetch_manifest(base_ref.version)
    node = parse_manifest(base_data)
    options = CopyOptions() if copy_options is None else copy_options
    if isinstance(image_ref, Reference) and base_ref.registry == image_ref.registry \
            and base_ref.repository != image_ref.repository:
        options.mount_candidates = lambda blob: [base_ref.repository]
    context = _Context(model, meta, base_ref, base_desc, base, dst, layers, modelcar, options)
    context.serving = serving
    if isinstance(node, Index):
        if len(node.manifests) > MAX_BASE_PLATFORMS:
            raise UnsupportedArtifactError(
                f"base image {base_ref} lists {len(node.manifests)} manifests, over the {MAX_BASE_PLATFORMS} "
                "modelpack builds on", advice=compose("choose one platform's manifest with {}",
                                                      setting("base='REF@sha256:...'", "--base REF@sha256:...")))
        children = []
        seen: set[str] = set()
        for child in node.manifests:
            if child.platform is not None and child.platform.os == "unknown":
                continue  # attestation manifests describe the base, not the new image
            if child.digest in seen:
                continue  # named twice: built once
            if architectures and (child.platform is None or child.platform.architecture not in architectures):
                continue
            seen.add(child.digest)
            built = context.extend(base.fetch_manifest(child.digest)[1])
            dst.push_manifest(built, context.last_bytes, None)
            children.append(built.replace(platform=child.platform))
        platform_images = any(c.platform is None or c.platform.os != "unknown" for c in node.manifests)
        if not children and architectures and platform_images:
            raise UsageError(f"base image {base_ref} has no {'/'.join(architectures)} image", advice=ANOTHER_BASE)
        if not children:
            raise UnsupportedArtifactError(f"base image {base_ref} is an index that lists no platform image",
                                           advice=ANOTHER_BASE)
        index = Index(manifests=children, annotations=context.annotations())
        data = index.canonical_bytes()
        desc = Descriptor(mediaType=mt.OCI_INDEX, digest=digests.of_bytes(data), size=len(data))
        dst.push_manifest(desc, data, image_ref.tag)
        return desc
    desc = context.extend(base_data)
    dst.push_manifest(desc, context.last_bytes, image_ref.tag)
    return desc


class _Context:
    def __init__(self, model: ModelSource, meta: dict[str, Any], base_ref: Reference, base_desc: Descriptor,
                 base: Storage, dst: Storage, layers: list[_ModelLayer], modelcar: bool,
                 options: CopyOptions) -> None:
        self.model, self.meta, self.base_ref, self.base_desc = model, meta, base_ref, base_desc
        self.base, self.dst, self.layers, self.modelcar, self.options = base, dst, layers, modelcar, options
        self.last_bytes = b""
        self.serving: ServingInstaller | None = None
        self.created = image_time(meta.get("created"))  # the artifact's text: one a tool cannot read is left out

    def annotations(self) -> dict[str, str]:
        out = {
            A_MODEL_DIGEST: self.model.descriptor.digest,
            A_MODEL_REFERENCE: str(self.model.reference.with_digest(self.model.descriptor.digest)),
            A_BASE_NAME: str(self.base_ref),
            A_BASE_DIGEST: self.base_desc.digest,
        }
        for key, field in ((mt.A_TITLE, "title"), (mt.A_VERSION, "version"), (mt.A_DESCRIPTION, "description")):
            if self.meta.get(field) and encodable(text := str(self.meta[field])):  # else no config could hold it
                out[key] = text
        if self.created:
            out[mt.A_CREATED] = self.created
        if self.modelcar:  # `k8s --kind kserve` reads it: Triton needs its repository layout
            out[LAYOUT_ANNOTATION] = self.model.layout.name
        return dict(sorted(out.items()))

    def extend(self, base_data: bytes) -> Descriptor:
        node = parse_manifest(base_data)
        if not isinstance(node, Manifest):
            raise UnsupportedArtifactError("nested indexes in a base image are not supported")
        if not is_container_image(node):
            raise UsageError(f"--base {self.base_ref} is not a container image but {kind_of(node)}; "
                             "pass a container image")
        config = checked_config(read_small(self.base, node.config, MAX_MANIFEST_BYTES), self.base_ref,
                                len(node.layers))
        if self.modelcar:
            require_shell(config, node.layers, self.base.open_blob, self.base_ref)
        setup = None if self.serving is None or self.modelcar else self.serving(config, node.layers,
                                                                               self.base.open_blob)
        config = self._config(config, setup)
        config_bytes = json_bytes(config)
        config_desc = Descriptor(mediaType=OCI_CONFIG, digest=digests.of_bytes(config_bytes), size=len(config_bytes))
        base_layers = [layer.replace(media_type=_DOCKER_TO_OCI.get(layer.media_type, layer.media_type))
                       for layer in node.layers]
        serving_layers = setup.layers if setup is not None else []
        manifest = Manifest(config=config_desc, layers=[*base_layers, *(s.descriptor for s in serving_layers),
                                                        *(m.descriptor for m in self.layers)],
                            annotations=self.annotations())
        with BlobPipeline(self.dst, self.options) as pipeline:
            for layer in node.layers:
                pipeline.submit(layer, self._base_opener(layer))
            for serving_layer in serving_layers:
                pipeline.submit(serving_layer.descriptor, serving_layer.open)
            for model_layer in self.layers:
                pipeline.submit(model_layer.descriptor, model_layer.open)
            pipeline.submit(config_desc, lambda: IterStream(iter([config_bytes])))
        self.last_bytes = manifest.canonical_bytes()
        return Descriptor(mediaType=mt.OCI_MANIFEST, digest=digests.of_bytes(self.last_bytes),
                          size=len(self.last_bytes))

    def _base_opener(self, layer: Descriptor) -> Callable[[], Any]:
        return lambda: self.base.open_blob(layer)

    def _config(self, config: dict[str, Any], setup: ServingSetup | None) -> dict[str, Any]:
        settings = config.setdefault("config", {}) or {}
        config["config"] = settings
        ours = ("MODEL_DIR=", "MODELPACK_MODEL_DIGEST=", "MODELPACK_MODEL_NAME=", "MODELPACK_MODEL_VERSION=",
                *(e.split("=", 1)[0] + "=" for e in (setup.env if setup else [])))
        env = [e for e in settings.get("Env") or [] if not e.startswith(ours)]
        if setup is not None:
            env += setup.env
            settings["User"] = setup.user
        # Who `serve /models` answers as (/v2/models/NAME, its version and digest): /models has no modelpack.yaml.
        identity = [f"MODELPACK_MODEL_{key.upper()}={value}" for key, value in model_identity(self.meta).items()]
        settings["Env"] = [*env, "MODEL_DIR=/models", f"MODELPACK_MODEL_DIGEST={self.model.descriptor.digest}",
                           *identity]
        labels = dict(settings.get("Labels") or {})
        labels.update(setup.labels if setup else {})
        labels.update(self.annotations())
        settings["Labels"] = dict(sorted(labels.items()))
        if not self.modelcar:
            settings["Entrypoint"] = SERVE_COMMAND
            settings["Cmd"] = None
            settings["ExposedPorts"] = {**(settings.get("ExposedPorts") or {}), f"{SERVE_PORT}/tcp": {}}
        elif settings.get("Entrypoint"):
            # KServe gives a modelcar `args` only, which an entrypoint would receive as its arguments; as the
            # command (which those args replace) the base's entrypoint still runs under `docker run`.
            settings["Cmd"] = [*settings["Entrypoint"], *(settings.get("Cmd") or [])]  # checked: string arrays
            settings["Entrypoint"] = None
        rootfs = config["rootfs"] = config.get("rootfs") or {"type": "layers", "diff_ids": []}
        serving_layers = setup.layers if setup is not None else []
        rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), *(s.diff_id for s in serving_layers),
                              *(m.descriptor.digest for m in self.layers)]
        history = list(config.get("history") or [])
        history += [{"created": self.created or "1970-01-01T00:00:00Z", "created_by": s.created_by}
                    for s in serving_layers]
        for model_layer in self.layers:
            history.append({"created": self.created or "1970-01-01T00:00:00Z",
                            "created_by": f"modelpack build-image: {len(model_layer.entries)} file(s) under /models",
                            "comment": str(self.model.reference.with_digest(self.model.descriptor.digest))})
        config["history"] = history
        if self.created:
            config["created"] = self.created
        return config

