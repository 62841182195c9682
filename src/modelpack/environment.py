"""Whole-number settings from environment variables, refused in one line when malformed.

A typo in a variable (`MODELPACK_CONCURRENCY=abc`, `0`, `-3`) must not be silently replaced by a
default: the user meant something, and is told what is accepted (exit 2).
"""

from __future__ import annotations

import os

from modelpack.errors import UsageError


def env_int(name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    """The variable `name` as a whole number, or `default` when it is unset or empty.

    Raises:
        UsageError: it is not a whole number within [minimum, maximum].
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise UsageError(f"{name}={text!r}: expected a whole number of at least {minimum}{upper}")
    return value
