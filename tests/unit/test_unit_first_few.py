"""first_few: what a one-line error or warning names of a long list."""

from __future__ import annotations

from modelpack.first_few import first_few


def test_the_first_few_and_how_many_more() -> None:
    assert first_few([], 3) == ""
    assert first_few(["a", "b", "c"], 3) == "a, b, c"
    assert first_few(["a", "b", "c", "d", "e"], 3) == "a, b, c and 2 more"
    assert first_few([str(n) for n in range(10_000)], 5) == "0, 1, 2, 3, 4 and 9995 more"
