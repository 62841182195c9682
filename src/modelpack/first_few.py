"""The first few of a list, and how many more there are: what an error or a warning names stays one line
however many items (thousands of files, types or tags) it is about."""

from __future__ import annotations

from collections.abc import Sequence


def first_few(items: Sequence[str], shown: int) -> str:
    """`items` joined with commas, cut after `shown` of them.

    Args:
        items: what to name, in order.
        shown: how many to name at most.

    Returns:
        `a, b, c` when there are no more than `shown`, else `a, b, c and 7 more`; "" for none.
    """
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")
