"""A parameter count as the model world writes it: `1.5M`, `7B`, `124M`."""

from __future__ import annotations

_UNITS = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))


def format_param_count(count: int) -> str:
    """`count` with a unit: one decimal below 10 of the unit (`1.5M`, `6.7B`), whole above (`124M`),
    a trailing `.0` dropped (`7B`).

    Args:
        count: the number of parameters (not negative).

    Returns:
        The short form; a count under 1,000 as it is (`512`).

    Raises:
        ValueError: a negative count.
    """
    if count < 0:
        raise ValueError(f"a parameter count cannot be negative ({count})")
    for size, unit in _UNITS:
        if count >= size:
            value = count / size
            text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
            return text.removesuffix(".0") + unit
    return str(count)
