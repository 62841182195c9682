"""Telling a runnable container image from a model artifact, by what the manifest declares.

An image's manifest has an image config (OCI's or Docker's) and no artifactType; anything else (a
ModelPack model, an ORAS artifact, a signature) is not something a container runtime can run. An index
is an image when the entries it lists are platform images.
"""

from __future__ import annotations

from modelpack.advice import compose, setting
from modelpack.errors import ContainerImageError
from modelpack.formats import layer_kind
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, Manifest, Platform

IMAGE_CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json",
                      "application/vnd.docker.container.image.v1+json")
IMAGE_LAYER_PREFIXES = ("application/vnd.oci.image.layer.", "application/vnd.docker.image.rootfs.")
# What `build-image` records of the model an image (serving image or modelcar) was built from.
A_MODEL_DIGEST = "io.modelpack.model.digest"
A_MODEL_REFERENCE = "io.modelpack.model.reference"


def is_container_image(node: Manifest | Index) -> bool:
    """Whether `node` is a runnable container image (a manifest with an image config, or an index of
    platform images), as opposed to a model or other artifact."""
    if node.artifact_type:
        return False
    if isinstance(node, Manifest):
        return node.config.media_type in IMAGE_CONFIG_TYPES
    return any(entry.platform is not None and entry.platform.os != "unknown" for entry in node.manifests)


def is_filesystem_image(manifest: Manifest) -> bool:
    """Whether `manifest` is a container image whose layers are all filesystem tars (OCI's or Docker's
    layer types, no file name): a runnable image as `docker push` or `build-image` writes one, not a
    model in an image's clothes nor a cosign `.sig` manifest (an image config over a JSON payload)."""
    return is_container_image(manifest) and all(
        layer.media_type.startswith(IMAGE_LAYER_PREFIXES) and not _is_model_layer(layer) for layer in manifest.layers)


_SHOWN_TYPE = 120  # a media type is the registry's text: a longer one is cut short, not repeated whole


def kind_of(node: Manifest | Index) -> str:
    """What `node` is, in words a user knows: "a container image", "a ModelPack model (media type ...)"
    or "an OCI artifact that is not a model (media type ...)"; the media type is only the detail."""
    if is_container_image(node):
        return "a container image"
    declared = node.artifact_type or (node.config.media_type if isinstance(node, Manifest) else node.media_type)
    shown = declared if len(declared) <= _SHOWN_TYPE else declared[:_SHOWN_TYPE] + "..."
    config = node.config.media_type if isinstance(node, Manifest) else ""
    if declared.startswith((mt.MODEL_PREFIX, mt.LEGACY_PREFIX)) or mt.is_model_config(config):
        return f"a ModelPack model (media type {shown})"
    return f"an OCI artifact that is not a model (media type {shown})"


def refuse_container_image(reference: object, node: Manifest | Index) -> None:
    """Refuse to restore a container image as a model, in one line that says what it is and what to
    use instead (the model `build-image` recorded on it, when it did). Called on the manifest alone, so
    nothing else has been fetched. A manifest with an
    image config whose layers are model layers (a model kind, or a file path) is let through.

    Args:
        reference: what the user named (shown back).
        node: its manifest or index.

    Raises:
        ContainerImageError: `node` is a container image or an index of them.
    """
    if not is_container_image(node) or (isinstance(node, Manifest) and any(map(_is_model_layer, node.layers))):
        return
    if isinstance(node, Index):
        platforms = sorted({platform_name(entry.platform) for entry in node.manifests if entry.platform is not None})
        what = f"an index of container images ({', '.join(platforms[:8])}{', ...' if len(platforms) > 8 else ''})"
    else:
        what = f"a container image (config {node.config.media_type})"
    model = built_from(node) if isinstance(node, Manifest) else None
    if model is not None:  # a modelcar or serving image: the model it holds is what was meant
        raise ContainerImageError(f"{reference} is {what}, not a model; nothing was downloaded or written",
                                  advice=compose("build-image made it from {}: name that model instead", model))
    raise ContainerImageError(f"{reference} is {what}, not a model; nothing was downloaded or written",
                              advice=compose("{} makes such images; to read its files use `crane export {} "
                                             "image.tar`", setting("modelpack.build_image()",
                                                                   "`modelpack build-image`"), str(reference)))


# What to do instead, by what a model was wanted for: with the model `build-image` recorded, and without.
_INSTEAD = {
    "diff": ("diff the model it was built from: {}", "diff the model artifacts themselves"),
    "sbom": ("take the ML-BOM of the model it was built from: {}", "an ML-BOM describes a model artifact"),
    "report": ("report on the model it was built from: {}", "a report documents a model artifact"),
}


def refuse_image_as_model(named: object, node: Manifest | Index, use: str) -> None:
    """Refuse a container image where one model artifact is read (`diff`, `sbom`, `report`): as a model it
    has no files of its own (a diff read every file of the other side as added or removed; a BOM or report
    listed the image's filesystem layers as the model's). The model it was built from, when `build-image`
    recorded it (pinned by digest), is named as the one to use instead.

    Args:
        named: the reference as the user gave it (shown back).
        node: its manifest or index.
        use: what the model was wanted for: "diff", "sbom" or "report".

    Raises:
        ContainerImageError: `node` is a container image (or an index of them) holding no model layer.
    """
    if not is_image_not_model(node):
        return
    model = built_from(node)
    with_model, without = _INSTEAD[use]
    instead = with_model.format(model) if model else without
    raise ContainerImageError(f"{named} is a container image, not a model artifact; {instead}")


def is_image_not_model(node: Manifest | Index) -> bool:
    """Whether `node` is a container image (or an index of them) holding no model layer: what `diff`, `sbom`
    and `report` refuse, and what has no report of its own."""
    return is_container_image(node) and not (isinstance(node, Manifest) and any(map(_is_model_layer, node.layers)))


def built_from(node: Manifest | Index) -> str | None:
    """The model reference (pinned by digest) `build-image` recorded on an image, if it is a well-formed one:
    the annotation is the registry's to write, so anything else is not repeated."""
    from modelpack.errors import InvalidReferenceError
    from modelpack.oci.reference import Reference

    text = (node.annotations or {}).get(A_MODEL_REFERENCE)
    if not isinstance(text, str):
        return None
    try:
        return text if Reference.parse(text).digest else None
    except InvalidReferenceError:
        return None


def _is_model_layer(layer: Descriptor) -> bool:
    return layer_kind(layer.media_type) is not None or layer.annotation(
        mt.A_FILEPATH, mt.LEGACY_A_FILEPATH, mt.A_TITLE) is not None


def platform_name(platform: Platform) -> str:
    """`os/architecture[/variant]`, as docker and crane write a platform."""
    return "/".join(part for part in (platform.os, platform.architecture, platform.variant) if part)
