"""--where and --sort over metadata records."""

from __future__ import annotations

import pytest

from modelpack.errors import UsageError
from modelpack.query import lookup, parse_condition, sort_key

RECORDS = [
    {"tag": "a", "metrics": {"accuracy": 0.9, "loss": 0.3}, "labels": {"stage": "prod", "team.io/owner": "x"},
     "framework": "torch", "version": "1.10"},
    {"tag": "b", "metrics": {"accuracy": 0.95}, "labels": {"stage": "dev"}, "framework": "sklearn",
     "version": "1.9"},
    {"tag": "c", "labels": {}, "framework": "torch"},
]


def tags(expr: str) -> list[str]:
    condition = parse_condition(expr)
    return [r["tag"] for r in RECORDS if condition(r)]


@pytest.mark.parametrize(("expr", "expected"), [
    ("metrics.accuracy>=0.9", ["a", "b"]),
    ("metrics.accuracy>0.9", ["b"]),
    ("metrics.accuracy<0.95", ["a"]),
    ("metrics.accuracy == 0.95", ["b"]),
    ("framework==torch", ["a", "c"]),
    ("labels.stage=prod", ["a"]),
    ("labels.stage!=prod", ["b", "c"]),
    ("labels.team.io/owner=x", ["a"]),
    ("metrics.loss<=1", ["a"]),
    ("framework>sl", ["a", "c"]),  # text compares as text
    ("version>=1.9", ["b"]),  # numeric-looking text compares as numbers: "1.10" reads as 1.1
])
def test_conditions(expr: str, expected: list[str]) -> None:
    assert tags(expr) == expected


@pytest.mark.parametrize("bad", ["accuracy", "metrics.accuracy>>", ">=1", "a=="])
def test_malformed_conditions(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_condition(bad)


def test_sort_numbers_numerically_and_missing_last() -> None:
    key, reverse = sort_key("-metrics.accuracy")
    assert [r["tag"] for r in sorted(RECORDS, key=key, reverse=reverse)] == ["b", "a", "c"]
    key, reverse = sort_key("metrics.accuracy")
    assert [r["tag"] for r in sorted(RECORDS, key=key, reverse=reverse)] == ["a", "b", "c"]
    with pytest.raises(UsageError):
        sort_key("-")


def test_lookup_prefers_whole_keys() -> None:
    assert lookup({"a.b": 1, "a": {"b": 2}}, "a.b") == 1
    assert lookup({"a": {"b": 2}}, "a.b") == 2


def test_a_long_condition_is_refused_and_parsing_stays_linear() -> None:
    from modelpack.errors import UsageError
    from modelpack.query import MAX_CONDITION, parse_condition

    assert parse_condition("  labels.stage = prod  ").value == "prod"
    try:
        parse_condition("a=" + "x" * MAX_CONDITION)
    except UsageError as exc:
        assert "at most" in str(exc)
    else:
        raise AssertionError("a condition over the cap was taken")
    assert parse_condition("a=x" + " " * 500 + "x" + " " * 500 + "y").value.endswith("x" + " " * 500 + "y")
