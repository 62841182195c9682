"""Docker model artifacts (`docker model package`; config `application/vnd.docker.ai.model.config.*`):
the config blob's `config` object (`format`, `quantization`, `architecture`, `parameters` as text such
as "1.2B") and `descriptor.created`. Their layers name no file; `formats.default_name` gives the names
`docker model` uses."""

from __future__ import annotations

from typing import Any

from modelpack.formats import DOCKER_AI_PREFIX
from modelpack.oci.descriptor import Manifest
from modelpack.readers.values import mapping, put, text

FORMAT = "docker-model"


def applies(manifest: Manifest) -> bool:
    """Whether the manifest's config is a Docker model config."""
    return manifest.config.media_type.startswith(DOCKER_AI_PREFIX)


def read(manifest: Manifest, config: dict[str, Any] | None, malformed: list[str] | None) -> dict[str, Any]:
    """The model's fields from its config blob (none when it was not read).

    Args:
        manifest: the model's manifest.
        config: the parsed config blob, or None.
        malformed: unused (Docker writes no metadata annotation).

    Returns:
        The `Fields` the config records.
    """
    document = mapping(config)
    inner = mapping(document.get("config"))
    fields: dict[str, Any] = {}
    for key in ("format", "quantization", "architecture"):
        put(fields, key, text(inner.get(key)))
    put(fields, "paramSize", text(inner.get("parameters")))
    put(fields, "created", text(mapping(document.get("descriptor")).get("created")))
    return fields
