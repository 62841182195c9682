"""The CycloneDX 1.6 JSON schema check of an ML-BOM, in time linear in its size.

cyclonedx-python-lib's validator is jsonschema's Draft 7 over the library's own schema files. Its
`uniqueItems` compares the items of an array of objects pairwise: a model's files are such an array, so a
BOM of 2,000 files took 7 s to check and one of the ~19,000 a 4 MiB manifest can list about 20 minutes. The
same validator, schema and references are used here with `uniqueItems` checked through a set of each item's
canonical JSON.

Imported only by `mlbom` (the `sbom` extra).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def schema_problem(document: dict[str, Any]) -> str | None:
    """Why `document` does not validate against the CycloneDX 1.6 JSON schema (strict), or None.

    Args:
        document: the BOM as a JSON object.

    Returns:
        The first error's message (one line, at most 300 characters), or None when it validates.
    """
    error = next(_validator().iter_errors(document), None)
    return None if error is None else str(error.message).splitlines()[0][:300]


@cache
def _validator() -> Any:
    from jsonschema import validators

    # The library's validator, for its schema, its references (SPDX, JSF, cryptography) and format checks.
    base = JsonStrictValidator(SchemaVersion.V1_6)._validator
    try:
        linear = validators.extend(type(base), {"uniqueItems": _unique_items})
        return linear(base.schema, registry=base._registry, format_checker=base.format_checker)
    except (AttributeError, TypeError):
        # Those are the library's and jsonschema's private parts: if a release moves them, the check stays
        # right, only quadratic again in the files (the dataset cap in mlbom still holds), not an error.
        return base


def _unique_items(validator: Any, unique: bool, instance: Any, schema: Any) -> Iterator[Any]:
    """jsonschema's `uniqueItems`, by canonical JSON: equal items serialize alike (1 and 1.0 do not, which
    only lets such a pair pass; the BOM is ours and writes neither)."""
    from jsonschema import ValidationError

    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        key = json.dumps(item, sort_keys=True)
        if key in seen:
            yield ValidationError(f"{key[:100]} appears twice: the items must be unique")
            return
        seen.add(key)
