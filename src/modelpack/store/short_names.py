"""The settings of registries.conf that modelpack reads and does not use, and what it still makes of them.

containers-registries.conf(5) also configures podman's short names (`unqualified-search-registries`,
`short-name-mode`, `[aliases]`, version 1's `[registries.search]`). modelpack takes fully qualified
references only, so that a name in a script means the same registry on every machine (its
`credential-helpers` are followed: credential_sources.py). A file setting them is
not wrong (Debian's containers-common ships `[aliases]` in a drop-in), so it is not refused; each is said
once with -v, and an alias for a short name a user typed is named in the error, not followed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from modelpack.errors import UsageError
from modelpack.oci.reference import Reference

log = logging.getLogger("modelpack.mirrors")

FULLY_QUALIFIED = "modelpack takes fully qualified references only (registry.example.com/team/model:1)"
UNUSED = {
    "unqualified-search-registries": FULLY_QUALIFIED,
    "short-name-mode": FULLY_QUALIFIED,
    "aliases": FULLY_QUALIFIED,
}


@dataclass(frozen=True)
class Alias:
    """One `[aliases]` entry: `name` (a short name) stands for `target` in podman, per the file `source`."""

    name: str
    target: str
    source: str


def say_unused(data: dict[str, Any], source: str) -> None:
    """One -v line for each setting of the file (TOML `data`, named `source`) that modelpack does not use."""
    for key, why in UNUSED.items():
        if key in data:
            value = data[key]
            what = key
            if key == "aliases" and isinstance(value, dict):
                what = f"[aliases] ({len(value)} short name{'' if len(value) == 1 else 's'})"
            log.debug("%s: %s not used: %s", source, what, why)
    legacy = data.get("registries")
    if isinstance(legacy, dict) and "search" in legacy:
        log.debug("%s: [registries.search] not used: %s", source, FULLY_QUALIFIED)


def aliases(data: dict[str, Any], source: str) -> list[Alias]:
    """The file's `[aliases]` entries whose target is a fully qualified name without tag or digest, as
    containers-registries.conf(5) asks (others are skipped, not refused: modelpack does not follow them)."""
    table = data.get("aliases")
    if not isinstance(table, dict):
        return []
    return [Alias(name.strip(), target.strip(), source) for name, target in table.items()
            if isinstance(target, str) and name.strip() and _qualified_name(target.strip())]


def _qualified_name(text: str) -> bool:
    try:
        parsed = Reference.parse(text, default_tag=None)
    except UsageError:
        return False
    return bool(parsed.registry) and parsed.tag is None and parsed.digest is None


def alias_hint(name: str, tag: str | None, digest: str | None, found: dict[str, Alias]) -> str | None:
    """For the short name `name` (with its tag or digest) the line's end naming its alias, if any."""
    alias = found.get(name)
    if alias is None:
        return None
    written = alias.target + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return f"[aliases] in {alias.source} names {alias.target} for it, which modelpack does not follow: write {written}"
