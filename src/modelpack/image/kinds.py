"""Telling a runnable container image from a model artifact, by what the manifest declares.

An image's manifest has an image config (OCI's or Docker's) and no artifactType; anything else (a
ModelPack model, an ORAS artifact, a signature) is not something a container runtime can run. An index
is an image when the entries it lists are platform images.
"""

from __future__ import annotations

from modelpack.oci.descriptor import Index, Manifest

IMAGE_CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json",
                      "application/vnd.docker.container.image.v1+json")


def is_container_image(node: Manifest | Index) -> bool:
    """Whether `node` is a runnable container image (a manifest with an image config, or an index of
    platform images), as opposed to a model or other artifact."""
    if node.artifact_type:
        return False
    if isinstance(node, Manifest):
        return node.config.media_type in IMAGE_CONFIG_TYPES
    return any(entry.platform is not None and entry.platform.os != "unknown" for entry in node.manifests)


def kind_of(node: Manifest | Index) -> str:
    """What `node` is, for error messages: "a container image" or "a model artifact (...)"."""
    if is_container_image(node):
        return "a container image"
    declared = node.artifact_type or (node.config.media_type if isinstance(node, Manifest) else node.media_type)
    return f"an artifact of type {declared}"
