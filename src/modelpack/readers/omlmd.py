"""omlmd artifacts (the `omlmd` package, 0.1.x): un-namespaced manifest annotations `name`,
`description`, `author`, `model_format_name`, `uri`, and `customProperties+json` (any keyword the
user passed, e.g. `accuracy=0.9`). Its config blob (`application/x-config`) holds the same document as
JSON; the annotations are read first since `ls` reads no config.

customProperties: finite numbers become `metrics` (so `ls --where metrics.accuracy>=0.9` works),
short strings become `labels`; other values are left out.
"""

from __future__ import annotations

from typing import Any

from modelpack.oci.descriptor import Manifest
from modelpack.readers.values import embedded_object, long_text, mapping, numbers, put, strings, text

FORMAT = "omlmd"
CONFIG_MEDIA_TYPE = "application/x-config"
PROPERTIES = "customProperties+json"


def applies(manifest: Manifest) -> bool:
    """Whether omlmd wrote the manifest (its config media type, or its properties annotation)."""
    return manifest.config.media_type == CONFIG_MEDIA_TYPE or PROPERTIES in (manifest.annotations or {})


def read(manifest: Manifest, config: dict[str, Any] | None, malformed: list[str] | None) -> dict[str, Any]:
    """The model's fields from omlmd's annotations, else from its config document.

    Args:
        manifest: the model's manifest.
        config: omlmd's config document when it was read and is JSON (else None).
        malformed: collects `customProperties+json` when it is not a JSON object.

    Returns:
        The `Fields` the artifact records.
    """
    ann = manifest.annotations or {}
    document = mapping(config) if manifest.config.media_type == CONFIG_MEDIA_TYPE else {}
    fields: dict[str, Any] = {}
    put(fields, "name", text(ann.get("name")) or text(document.get("name")))
    put(fields, "description", long_text(ann.get("description")) or long_text(document.get("description")))
    author = text(ann.get("author")) or text(document.get("author"))
    put(fields, "authors", [author] if author else None)
    put(fields, "format", text(ann.get("model_format_name")) or text(document.get("model_format_name")))
    put(fields, "sourceURL", text(ann.get("uri")) or text(document.get("uri")))
    properties = _properties(ann, document, malformed)
    put(fields, "metrics", numbers(properties))
    put(fields, "labels", strings(properties))
    return fields


def _properties(ann: dict[str, str], document: dict[str, Any], malformed: list[str] | None) -> dict[str, Any]:
    """customProperties from the annotation (a JSON object), else from the config document."""
    if PROPERTIES not in ann:
        return mapping(document.get("customProperties"))
    return embedded_object(ann, PROPERTIES, malformed)
