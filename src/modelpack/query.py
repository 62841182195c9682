"""`--where` filters and `--sort` keys over model metadata (pure functions, no I/O).

    metrics.accuracy>=0.9     framework==scikit-learn     labels.stage=prod     version!=1.0

Numbers compare as numbers when both sides are numeric, everything else as text. A field that is
absent never matches (except with `!=`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelpack.errors import UsageError

_EXPR = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(>=|<=|==|!=|=|>|<)\s*(.*?)\s*$")
_MISSING = object()


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str

    def __call__(self, record: dict[str, Any]) -> bool:
        actual = lookup(record, self.field)
        if actual is _MISSING or actual is None:
            return self.op == "!="
        left, right = _comparable(actual, self.value)
        if self.op in ("==", "="):
            return bool(left == right)
        if self.op == "!=":
            return bool(left != right)
        if type(left) is not type(right):
            return False
        return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[self.op]


def parse_condition(text: str) -> Condition:
    match = _EXPR.match(text)
    if not match:
        raise UsageError(f"--where {text!r}: expected FIELD OP VALUE, e.g. metrics.accuracy>=0.9")
    field, op, value = match.groups()
    if value == "" or value[0] in "<>=!":
        raise UsageError(f"--where {text!r}: expected FIELD OP VALUE, e.g. metrics.accuracy>=0.9")
    return Condition(field, op, value.strip("\"'"))


def lookup(record: dict[str, Any], path: str) -> Any:
    """record["metrics"]["accuracy"] for "metrics.accuracy"; a whole-key match wins over splitting,
    so a label named "team.io/owner" can still be reached."""
    node: Any = record
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(node, dict):
            return _MISSING
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                node = node[key]
                i = j
                break
        else:
            return _MISSING
    return node


def _comparable(actual: Any, expected: str) -> tuple[Any, Any]:
    if isinstance(actual, bool):
        return str(actual).lower(), expected.lower()
    number = _number(expected)
    if isinstance(actual, int | float) and number is not None:
        return float(actual), number
    if isinstance(actual, str) and number is not None and _number(actual) is not None:
        return _number(actual), number
    return str(actual), expected


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def sort_key(spec: str) -> tuple[Callable[[dict[str, Any]], Any], bool]:
    """A key function and whether to reverse, for `--sort FIELD` (`-FIELD` for descending).
    Records lacking the field sort last either way."""
    descending = spec.startswith("-")
    field = spec.lstrip("-+")
    if not field:
        raise UsageError("--sort needs a field, e.g. metrics.accuracy or -created")

    def key(record: dict[str, Any]) -> Any:
        value = lookup(record, field)
        if value is _MISSING or value is None:
            return (1, 0, "") if not descending else (0, 0, "")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (0, 0, float(value)) if not descending else (1, 0, float(value))
        return (0, 1, str(value)) if not descending else (1, 1, str(value))

    return key, descending
