"""Taking values out of what another tool wrote, treating it as hostile: every size capped, any value
of the wrong type ignored (never an exception), nothing evaluated. Readers build `Fields` with these."""

from __future__ import annotations

import math
from typing import Any

from modelpack.oci.jsontext import parse_or_none

MAX_TEXT = 1024  # a name, a version, a licence, an author
MAX_LONG_TEXT = 16 * 1024  # a description
MAX_ITEMS = 256  # entries of a list or mapping
MAX_EMBEDDED = 256 * 1024  # a Kitfile, a Modelfile or customProperties carried in one annotation


def text(value: object, limit: int = MAX_TEXT) -> str | None:
    """A non-empty string of at most `limit` characters, else None (numbers are not names)."""
    if isinstance(value, str) and value.strip() and len(value) <= limit:
        return value
    return None


def long_text(value: object) -> str | None:
    """A description: a string, cut to `MAX_LONG_TEXT` characters; None if not a non-empty string."""
    if isinstance(value, str) and value.strip():
        return value[:MAX_LONG_TEXT]
    return None


def texts(value: object) -> list[str] | None:
    """A list of short strings (entries of other types or over the cap are dropped); None if empty."""
    if not isinstance(value, list):
        return None
    kept = [item for item in (text(v) for v in value[:MAX_ITEMS]) if item is not None]
    return kept or None


def mapping(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object (at most `MAX_ITEMS` keys), else an empty one."""
    if isinstance(value, dict) and len(value) <= MAX_ITEMS:
        return value
    return {}


def is_number(value: object) -> bool:
    """A finite int or float (a bool is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def numbers(value: object) -> dict[str, int | float]:
    """The entries of a mapping whose value is a finite number and whose key is short text."""
    return {key: item for key, item in mapping(value).items() if text(key) is not None and is_number(item)}


def strings(value: object) -> dict[str, str]:
    """The entries of a mapping whose key and value are both short text."""
    return {key: item for key, item in mapping(value).items()
            if text(key) is not None and text(item) is not None}


def embedded_object(annotations: dict[str, str], key: str, malformed: list[str] | None) -> dict[str, Any]:
    """The JSON object an annotation carries, or an empty one; a present annotation that is over
    `MAX_EMBEDDED`, not JSON, or JSON but not an object is ignored and its key appended to `malformed`.

    Args:
        annotations: the manifest's annotations.
        key: the annotation holding a JSON object.
        malformed: collects the keys ignored as malformed (None: not collected).

    Returns:
        The parsed object (at most `MAX_ITEMS` keys), or {}.
    """
    raw = annotations.get(key)
    if raw is None:
        return {}
    value = parse_or_none(raw, MAX_EMBEDDED)
    if not isinstance(value, dict) or len(value) > MAX_ITEMS:
        if malformed is not None:
            malformed.append(key)
        return {}
    return value


def put(fields: dict[str, Any], key: str, value: object) -> None:
    """Set `fields[key]` unless `value` is None or empty."""
    if value not in (None, "", [], {}):
        fields[key] = value
