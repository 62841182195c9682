"""One metadata reader per format, one typed result (`fields.Fields`).

Each reader module has `FORMAT` (its name), `applies(manifest)` (whether the manifest is of its
format, from media types and annotation keys alone) and `read(manifest, config, malformed)`. Every
reader that applies contributes, in `READERS` order; the first to set a field wins, so a format's own
document beats the generic OCI annotations (`plain_oras`, which always applies and comes last). The
config blob is optional: `ls` reads manifests only, and each reader then uses what annotations say.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from modelpack.oci.descriptor import Index, Manifest
from modelpack.readers import cnai_legacy, container_image, docker_model, kitops, modctl, modelpack, omlmd, plain_oras
from modelpack.readers.fields import Fields, merge

READERS: tuple[ModuleType, ...] = (modelpack, cnai_legacy, kitops, docker_model, omlmd, modctl, container_image,
                                   plain_oras)
INDEX_FORMAT = "index"

__all__ = ["INDEX_FORMAT", "READERS", "Fields", "read_fields"]


def read_fields(manifest: Manifest | Index, config: dict[str, Any] | None,
                malformed: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """What an artifact says about its model, whatever wrote it.

    Args:
        manifest: the manifest (or index) as parsed.
        config: its config blob, parsed, when it was read and is a JSON object (else None).
        malformed: collects, once each, the annotation keys left out as not well formed.

    Returns:
        The format that wrote it (the first reader that applies: "modelpack", "cnai", "kitops",
        "docker-model", "omlmd", "modctl", "container-image", "oras"; "index" for an index) and its
        fields (`Fields`).
    """
    found: list[str] = []
    if isinstance(manifest, Index):
        fields = plain_oras.read(manifest, None, found)
        _collect(malformed, found)
        return INDEX_FORMAT, fields
    applying = [reader for reader in READERS if reader.applies(manifest)]
    parts = [reader.read(manifest, config, found) for reader in applying]
    _collect(malformed, found)
    return applying[0].FORMAT, merge(parts[0], *parts[1:])


def _collect(malformed: list[str] | None, found: list[str]) -> None:
    if malformed is not None:
        malformed.extend(key for key in dict.fromkeys(found) if key not in malformed)
