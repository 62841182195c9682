"""Reading model artifacts other tools make: KitOps ModelKits, Docker model artifacts, legacy
ModelPack (`cnai`), and plain ORAS artifacts. Inspect shows their metadata in our vocabulary; pull and
unpack restore their files."""

from __future__ import annotations

from typing import Any

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


def foreign_metadata(config_media_type: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata from a non-ModelPack config blob, in modelpack's field names."""
    if not config:
        return {}
    if config_media_type == KITOPS_CONFIG:
        return _kitfile(config)
    if config_media_type.startswith(DOCKER_AI_PREFIX):
        inner = _mapping(config, "config")
        view = {key: inner[key] for key in ("format", "quantization", "architecture") if inner.get(key)}
        if inner.get("parameters"):
            view["paramSize"] = str(inner["parameters"])
        descriptor = _mapping(config, "descriptor")
        if descriptor.get("created"):
            view["created"] = descriptor["created"]
        return view
    return {}


def _kitfile(kitfile: dict[str, Any]) -> dict[str, Any]:
    package = _mapping(kitfile, "package")
    model = _mapping(kitfile, "model")
    view: dict[str, Any] = {}
    for key in ("name", "version", "description"):
        if package.get(key):
            view[key] = package[key]
    if isinstance(package.get("authors"), list):
        view["authors"] = [str(a) for a in package["authors"]]
    if package.get("license"):
        view["licenses"] = [str(package["license"])]
    if model.get("name"):
        view["title"] = model["name"]
    if model.get("framework"):
        view["framework"] = model["framework"]
    if model.get("version") and "version" not in view:
        view["version"] = model["version"]
    if isinstance(model.get("parameters"), dict):
        view["hyperparameters"] = model["parameters"]
    datasets = kitfile.get("datasets")
    if isinstance(datasets, list):
        view["datasets"] = [str(d.get("name") or d.get("path")) for d in datasets if isinstance(d, dict)]
    return view


def _mapping(value: dict[str, Any], key: str) -> dict[str, Any]:
    item = value.get(key)
    return item if isinstance(item, dict) else {}
