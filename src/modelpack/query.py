"""`--where` filters and `--sort` keys over model metadata (pure functions, no I/O).

    metrics.accuracy>=0.9     framework==scikit-learn     labels.stage=prod     version!=1.0

Numbers compare as numbers when both sides are numeric, everything else as text. A field that is
absent never matches (except with `!=`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from modelpack.advice import Wording, compose, setting
from modelpack.errors import UsageError

# The value is taken whole and stripped after: a lazy `(.*?)\s*$` backtracked quadratically over spaces.
_EXPR = re.compile(r"\s*([A-Za-z_][\w.\-/]*)\s*(>=|<=|==|!=|=|>|<)(.*)", re.DOTALL)
MAX_CONDITION = 1024  # characters: a field, an operator and a value; more is a mistake (or a web page's attack)
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
        if self.field == "created" and self.op in _ORDERING:  # instants, not text: offsets differ
            left, right = _instant(actual), _instant(self.value)
            if left is None or right is None:  # a created that is no time is not after or before any
                return False
            return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[self.op]
        left, right = _comparable(actual, self.value)
        if self.op in ("==", "="):
            return bool(left == right)
        if self.op == "!=":
            return bool(left != right)
        if type(left) is not type(right):
            return False
        return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[self.op]


WHERE = setting("where condition", "--where")  # as each audience names the filter
SORT = setting("sort", "--sort")


def parse_condition(text: str) -> Condition:
    if len(text) > MAX_CONDITION:
        raise UsageError(compose("{} of {} characters: at most {}", WHERE, str(len(text)), str(MAX_CONDITION)))
    given = compose("{} {}", WHERE, repr(text))
    match = _EXPR.fullmatch(text)
    if not match:
        raise UsageError(compose("{}: expected FIELD OP VALUE, e.g. metrics.accuracy>=0.9", given))
    field, op, value = match.group(1), match.group(2), match.group(3).strip()
    if value == "" or value[0] in "<>=!":
        raise UsageError(compose("{}: expected FIELD OP VALUE, e.g. metrics.accuracy>=0.9", given))
    value = value.strip("\"'")
    if op in _ORDERING and field.startswith("metrics.") and _number(value) is None:
        raise UsageError(compose("{}: metrics compare as numbers, and {} is not one", given, repr(value)))
    if op in _ORDERING and field == "created" and not _is_time(value):
        raise UsageError(compose("{}: created compares as a time, e.g. created>=2026-01-31", given))
    return Condition(field, op, value)


_ORDERING = (">", "<", ">=", "<=")


def _is_time(text: str) -> bool:
    return _instant(text) is not None


def _instant(value: Any) -> float | None:
    """A `created` time (RFC 3339; without an offset, UTC) as seconds since the epoch; None if it is none."""
    if isinstance(value, datetime):  # a YAML timestamp, read unquoted
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def check_fields(fields: Iterable[str], records: list[dict[str, Any]], option: Wording) -> None:
    """Refuse a field that no record has (a typo such as `metrcs.accuracy` would otherwise filter
    everything out, or sort nothing, in silence), with the nearest field that exists.

    Raises:
        UsageError: naming the field and, where one is close, the field meant.
    """
    if not records:
        return
    for field in fields:
        if any(lookup(record, field) is not _MISSING for record in records):
            continue
        known = sorted({key for record in records for key in _paths(record)})
        import difflib  # here: only a field no version has looks for a near one

        close = difflib.get_close_matches(field, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(compose("{} {}: no version has this field{}", option, repr(field), hint))


def _paths(record: dict[str, Any], prefix: str = "") -> Iterable[str]:
    for key, value in record.items():
        yield prefix + str(key)
        if isinstance(value, dict):
            yield from _paths(value, f"{prefix}{key}.")


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


def natural_key(value: Any) -> tuple[tuple[int, int | str], ...]:
    """A version string's sort key with its numbers as numbers (`1.10` after `1.9`)."""
    parts = re.findall(r"\d+|[^\d]+", str(value or ""))
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)


def sort_key(spec: str) -> tuple[Callable[[dict[str, Any]], Any], bool]:
    """A key function and whether to reverse, for `--sort FIELD` (`-FIELD` for descending).
    Records lacking the field sort last either way."""
    descending = spec.startswith("-")
    field = spec.lstrip("-+")
    if not field:
        raise UsageError(compose("{} needs a field, e.g. metrics.accuracy or -created", SORT))

    def key(record: dict[str, Any]) -> Any:
        value = lookup(record, field)
        if field == "created":  # by the instant, whatever its offset; a value that is no time sorts as none
            value = _instant(value)
        if value is _MISSING or value is None:
            return (1, 0, "") if not descending else (0, 0, "")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (0, 0, float(value)) if not descending else (1, 0, float(value))
        return (0, 1, str(value)) if not descending else (1, 1, str(value))

    return key, descending
