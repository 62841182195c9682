"""Media types and annotation keys written and read by modelpack (documented in specs/format.md)."""

from __future__ import annotations

import functools
from typing import Final, Literal

# OCI image-spec
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES: Final = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)

# CNCF ModelPack model-spec v1
MODEL_ARTIFACT: Final = "application/vnd.cncf.model.manifest.v1+json"
MODEL_CONFIG: Final = "application/vnd.cncf.model.config.v1+json"
LEGACY_PREFIX: Final = "application/vnd.cnai.model."
MODEL_PREFIX: Final = "application/vnd.cncf.model."

Kind = Literal["weight", "weight.config", "doc", "code", "dataset"]
KINDS: Final[tuple[Kind, ...]] = ("weight", "weight.config", "doc", "code", "dataset")
Packing = Literal["raw", "tar", "tar+gzip", "tar+zstd"]
Compression = Literal["gzip", "zstd"]  # files.compress: what a compressed layer's tar goes through
COMPRESSED_KINDS: Final[tuple[Kind, ...]] = ("doc", "code", "dataset")  # weights stay raw, as model-spec says


@functools.cache  # one string for all the layers of a kind, not one each
def layer_media_type(kind: Kind, packing: Packing) -> str:
    return f"{MODEL_PREFIX}{kind}.v1.{packing}"


def parse_layer_media_type(media_type: str) -> tuple[Kind, Packing] | None:
    """(kind, packing) of a ModelPack layer media type, current or legacy `cnai`; None otherwise."""
    for prefix in (MODEL_PREFIX, LEGACY_PREFIX):
        if media_type.startswith(prefix):
            rest = media_type[len(prefix) :]
            kind, sep, packing = rest.partition(".v1.")
            if sep and kind in KINDS and packing in ("raw", "tar", "tar+gzip", "tar+zstd"):
                return kind, packing  # type: ignore[return-value]
    return None


def is_model_config(media_type: str) -> bool:
    return media_type in (MODEL_CONFIG, LEGACY_PREFIX + "config.v1+json")


# Annotation keys. Layer keys come from model-spec; the rest from OCI or our own namespace.
A_FILEPATH: Final = "org.cncf.model.filepath"
A_FILE_METADATA: Final = "org.cncf.model.file.metadata+json"
A_MEDIATYPE_UNTESTED: Final = "org.cncf.model.file.mediatype.untested"
LEGACY_A_FILEPATH: Final = "org.cnai.model.filepath"
LEGACY_A_FILE_METADATA: Final = "org.cnai.model.file.metadata+json"

# Signatures: a sigstore bundle (as cosign 3 writes), and our referrer holding the OpenSSF model.sig.
SIGSTORE_BUNDLE: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
MODEL_SIGNING_ARTIFACT: Final = "application/vnd.modelpack.model-signing.v1+json"

A_TITLE: Final = "org.opencontainers.image.title"
A_DESCRIPTION: Final = "org.opencontainers.image.description"
A_VERSION: Final = "org.opencontainers.image.version"
A_CREATED: Final = "org.opencontainers.image.created"
A_AUTHORS: Final = "org.opencontainers.image.authors"
A_LICENSES: Final = "org.opencontainers.image.licenses"
A_SOURCE: Final = "org.opencontainers.image.source"
A_REVISION: Final = "org.opencontainers.image.revision"
A_VENDOR: Final = "org.opencontainers.image.vendor"
A_DOCUMENTATION: Final = "org.opencontainers.image.documentation"
A_REF_NAME: Final = "org.opencontainers.image.ref.name"
# Set by the oras CLI on a directory packed as one tar+gzip layer: `oras pull` unpacks such a layer into a
# folder named by its title, checking the uncompressed tar against the digest annotation.
A_ORAS_UNPACK: Final = "io.deis.oras.content.unpack"
A_ORAS_DIGEST: Final = "io.deis.oras.content.digest"

# Our namespace for model fields that OCI has no key for.
NS: Final = "io.modelpack.model."
