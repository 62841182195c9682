"""The class of the object a `.skops` file holds: the top of its `schema.json`, read from the zip without
loading anything (skops' own loader is never called)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from modelpack.errors import MalformedFileError
from modelpack.inspection.reading import parse_json, short_text

MAX_SCHEMA_BYTES = 16 * 1024 * 1024


def skops_class(path: Path, name: str) -> tuple[str, str] | None:
    """(module, class name) of the top-level object in a skops file.

    Args:
        path: the .skops file (a zip holding schema.json).
        name: its path as shown in messages.

    Returns:
        The class named by schema.json's `__module__` and `__class__`, or None when they are absent.

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
    module, cls = short_text(schema.get("__module__")), short_text(schema.get("__class__"))
    return (module, cls) if module and cls else None
