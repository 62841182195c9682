"""Near misses: the ` (did you mean 'version'?)` a refused or ignored name gets, wherever names are checked
(modelpack.yaml's fields, registries.conf's keys)."""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """` (did you mean 'version'?)` for a near miss such as `versoin`, else nothing.

    Args:
        name: the name as written.
        known: the names that exist there.

    Returns:
        The parenthesis with a leading space, or "" when no known name is close.
    """
    import difflib  # here: only a name not known looks for a near one (every pull reads registries.conf)

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""
