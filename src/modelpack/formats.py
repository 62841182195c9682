"""The layers of model artifacts other tools make: KitOps ModelKits, Docker model artifacts, legacy
ModelPack (`cnai`), and plain ORAS artifacts: what kind each layer is and what file it restores. Their
metadata is read by `modelpack.readers`."""

from __future__ import annotations

from modelpack.oci import mediatypes as mt

KITOPS_CONFIG = "application/vnd.kitops.modelkit.config.v1+json"
KITOPS_PREFIX = "application/vnd.kitops.modelkit."
DOCKER_AI_PREFIX = "application/vnd.docker.ai."
_KITOPS_KINDS = {"model": "weight", "modelpart": "weight", "dataset": "dataset", "code": "code", "docs": "doc"}
# Docker model artifacts name no file; these are the names `docker model` itself uses for them.
_DOCKER_AI_NAMES = {"gguf": "model.gguf", "safetensors": "model.safetensors", "license": "LICENSE"}


def layer_kind(media_type: str) -> str | None:
    parsed = mt.parse_layer_media_type(media_type)
    if parsed is not None:
        return parsed[0]
    if media_type.startswith(KITOPS_PREFIX):
        return _KITOPS_KINDS.get(media_type[len(KITOPS_PREFIX):].split(".")[0])
    if media_type.startswith(DOCKER_AI_PREFIX):
        return "doc" if "license" in media_type else "weight"
    return None


def is_foreign_archive(media_type: str) -> bool:
    """A KitOps layer: a tar (plain, gzip or zstd) of paths relative to the model root."""
    return media_type.startswith(KITOPS_PREFIX) and (media_type.endswith(".tar") or "tar+gzip" in media_type
                                                     or "tar+zstd" in media_type)


def default_name(media_type: str) -> str | None:
    """A file name for a layer that names none (Docker model artifacts)."""
    if media_type.startswith(DOCKER_AI_PREFIX):
        kind = media_type[len(DOCKER_AI_PREFIX):].split(".")[0]
        return _DOCKER_AI_NAMES.get(kind)
    return None
