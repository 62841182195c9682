"""Glob matching for file rules, with gitignore-like conventions users already know.

`*` stays inside one path segment, `**` crosses segments, a pattern without `/` matches the base name
anywhere, and a pattern that names a folder matches everything below it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip().removeprefix("./").lstrip("/").rstrip("/")
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            # As fnmatch: a `]` first in the set (after an optional `!`) is a member; no closing `]`
            # at all makes the `[` literal.
            j = i + 1
            if pattern.startswith("!", j):
                j += 1
            if pattern.startswith("]", j):
                j += 1
            end = pattern.find("]", j)
            if end == -1:
                out.append(re.escape(ch))
                i += 1
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                members = re.sub(r"([\\\[\]^])", r"\\\1", body[1:] if negate else body)
                out.append(f"[^/{members}]" if negate else f"[{members}]")
                i = end + 1
        else:
            out.append(re.escape(ch))
            i += 1
    # DOTALL: a file name may hold a newline, and `**` must cross it as `*` does (else `--include
    # 'sub/**'` or `files.exclude` would silently leave such a file out or in).
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def matches(pattern: str, relpath: str) -> bool:
    """Whether `relpath` (posix, relative to the model root) or any folder above it matches `pattern`."""
    regex = _compile(pattern)
    anchored = "/" in pattern.strip().rstrip("/")
    parts = relpath.split("/")
    for end in range(len(parts), 0, -1):
        candidate = "/".join(parts[:end]) if anchored else parts[end - 1]
        if regex.match(candidate):
            return True
    return False


def first_match(patterns: Iterable[str], relpath: str) -> str | None:
    for pattern in patterns:
        if matches(pattern, relpath):
            return pattern
    return None
