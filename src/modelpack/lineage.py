"""Lineage: a model's `parent` (and `datasets`) entries that are registry references are pinned to
digests when it is packed, so the chain back to the first ancestor stays exact even as tags move."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelpack.errors import InvalidReferenceError, ModelpackError, UsageError
from modelpack.oci.reference import Reference

Resolver = Callable[[Reference], str]
MAX_DEPTH = 100


def pin(value: str, resolve: Resolver) -> str:
    """`registry/repo:tag` becomes `registry/repo:tag@sha256:...`; anything that is not a registry
    reference (a dataset name, a URL) or is already pinned is returned unchanged."""
    try:
        ref = Reference.parse(value)
    except InvalidReferenceError:
        return value
    if not ref.registry or ref.digest:
        return value
    try:
        digest = resolve(ref)
    except ModelpackError as exc:
        raise UsageError(f"cannot pin {value!r} to a digest ({exc}); make it reachable or give name@sha256:...") \
            from None
    return str(Reference(ref.registry, ref.repository, ref.tag, digest))


def chain(start: str, read: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Follow `parent` from `start` back to the first ancestor. `read(reference)` returns an
    `inspect --json` document."""
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: str | None = start
    while current and len(entries) < MAX_DEPTH:
        info = read(current)
        meta = info.get("metadata", {})
        entries.append({"reference": current, "digest": info["digest"], "name": meta.get("name"),
                        "version": meta.get("version"), "parent": meta.get("parent")})
        if info["digest"] in seen:
            raise UsageError(f"lineage of {start} loops back to {info['digest']}")
        seen.add(info["digest"])
        current = meta.get("parent")
    return entries
