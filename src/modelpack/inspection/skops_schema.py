"""The class of the object a `.skops` file holds, and the versions it was saved with: the top of its
`schema.json`, read from the zip without loading anything (skops' own loader is never called)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from modelpack.errors import MalformedFileError
from modelpack.inspection.reading import parse_json, short_text

MAX_SCHEMA_BYTES = 16 * 1024 * 1024


def skops_class(schema: dict[str, Any]) -> tuple[str, str] | None:
    """(module, class name) of the top-level object in a skops file's schema (`skops_schema`), or None
    when its `__module__` and `__class__` are absent."""
    module, cls = short_text(schema.get("__module__")), short_text(schema.get("__class__"))
    return (module, cls) if module and cls else None


def skops_versions(schema: dict[str, Any]) -> dict[str, str]:
    """The software versions a skops schema records: skops' own (`_skops_version`) and, for a
    scikit-learn estimator, the `_sklearn_version` attribute scikit-learn stores in its state.

    Args:
        schema: the parsed schema.json (`skops_schema`).

    Returns:
        `skops` and `scikit-learn` -> version, each only when present as short printable text.
    """
    versions = {}
    if skops := short_text(schema.get("_skops_version"), 64):
        versions["skops"] = skops
    attributes = schema.get("content")
    attributes = attributes.get("content") if isinstance(attributes, dict) else None
    node = attributes.get("_sklearn_version") if isinstance(attributes, dict) else None
    # A JsonNode's content is the value as JSON text: '"1.5.2"'.
    text = node.get("content") if isinstance(node, dict) else None
    quoted = isinstance(text, str) and len(text) <= 66 and text.startswith('"') and text.endswith('"')
    if quoted and (sklearn := short_text(str(text)[1:-1], 64)):
        versions["scikit-learn"] = sklearn
    return versions


def skops_schema(path: Path, name: str) -> dict[str, Any]:
    """A skops file's schema.json, read from the zip without loading anything.

    Args:
        path: the .skops file (a zip holding schema.json).
        name: its path as shown in messages.

    Returns:
        The parsed schema.json (a JSON object).

    Raises:
        MalformedFileError: not a zip, no schema.json, a schema over 16 MiB (declared or read), or not a
            JSON object.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("schema.json")
            if info.file_size > MAX_SCHEMA_BYTES:
                raise MalformedFileError(f"{name}: schema.json of {info.file_size} bytes (limit {MAX_SCHEMA_BYTES})")
            with archive.open(info) as member:
                data = member.read(MAX_SCHEMA_BYTES + 1)  # the declared size may lie
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, NotImplementedError) as exc:
        reason = "no schema.json" if isinstance(exc, KeyError) else str(exc)[:120]
        raise MalformedFileError(f"{name}: not a skops file ({reason})") from None
    schema = parse_json(data, f"{name}: schema.json", MAX_SCHEMA_BYTES)
    if not isinstance(schema, dict):
        raise MalformedFileError(f"{name}: schema.json is not a JSON object")
    return schema
