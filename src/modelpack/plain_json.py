"""Values a caller computed, as JSON holds them: what metadata and attestation predicates are written from.

A training script hands over numpy numbers and arrays, tuples, NaN for an undefined metric; `json.dumps`
refuses the first (a TypeError naming no field) and writes the last as `NaN`, which no JSON parser reads.
"""

from __future__ import annotations

import math
from typing import Any

# Lists and mappings within each other: what was written must read back, and modelpack's reader refuses
# JSON nested past 64 levels (oci.jsontext), where the metadata or predicate itself sits a few levels down.
MAX_NESTING = 32


def as_json(value: Any, where: str = "", depth: int = 0) -> Any:
    """`value` as JSON's types: numpy scalars (`.item()`) and arrays (`.tolist()`) converted, tuples as lists.

    Raises:
        ValueError: a value of another type (a datetime, an object), or nested past MAX_NESTING levels
            (one that holds itself), naming where it is.
    """
    if depth > MAX_NESTING:
        shown = where if len(where) <= 100 else f"{where[:60]}...{where[-30:]}"
        raise ValueError(f"{shown or 'value'} is nested more than {MAX_NESTING} levels deep (or holds itself), "
                         "which modelpack would not read back")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if type(value).__module__ == "numpy" and callable(getattr(value, "tolist", None)):
        plain = value.tolist()  # a scalar's is its Python number
        if isinstance(plain, float) and getattr(value, "itemsize", 8) < 8:
            plain = float(str(value))  # a float32's shortest text (0.93), not its binary expansion (0.9300000071...)
        return as_json(plain, where, depth)
    if isinstance(value, dict):
        plain = {_key(key, where): item for key, item in value.items()}
        return {key: as_json(item, f"{where}.{key}" if where else key, depth + 1) for key, item in plain.items()}
    if isinstance(value, list | tuple):
        return [as_json(item, f"{where}.{i}" if where else str(i), depth + 1) for i, item in enumerate(value)]
    kind = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    raise ValueError(f"{where or 'value'} is a {kind}, which JSON cannot hold "
                     "(give a number, text, true/false, null, a list or a mapping)")


def _key(key: Any, where: str) -> str:
    """A mapping's key as JSON writes it: text, or a number's (or true/false/null's) text."""
    plain = key if isinstance(key, str) else as_json(key, where)
    if isinstance(plain, list | dict):
        raise ValueError(f"{where or 'value'} has a key {key!r}, which JSON cannot hold (give text)")
    if isinstance(plain, bool) or plain is None:
        return "null" if plain is None else "true" if plain else "false"
    return str(plain)


def non_finite(value: Any, where: str = "") -> str | None:
    """The dotted path of the first NaN or infinity in nested lists and mappings, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = non_finite(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None
