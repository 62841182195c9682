"""The keys containers-registries.conf(5) defines, and one warning for any other a file sets.

containers/image decodes a file leniently and logs keys it does not know at debug level only, so a typo
(`[[registry.mirrors]]`, `pull-from-mirrors`) silently turns a mirror off: every pull goes to the origin,
and a cache set up for an outage is never asked. modelpack ignores such a key too (a file podman and
skopeo accept is not refused) but says so once, on stderr, with the near miss it was probably meant as.
"""

from __future__ import annotations

import logging
from typing import Any

from modelpack.spelling import did_you_mean

log = logging.getLogger("modelpack.mirrors")

TOP = ("unqualified-search-registries", "short-name-mode", "credential-helpers",
       "additional-layer-store-auth-helper", "aliases", "registry", "registries")
REGISTRY = ("prefix", "location", "insecure", "blocked", "mirror-by-digest-only", "mirror")
MIRROR = ("location", "insecure", "pull-from-mirror")


def warn_unknown(data: dict[str, Any], source: str) -> None:
    """One `warning:` line for each key of the file (TOML `data`, named `source`) that registries.conf(5)
    does not define, at the top level, in a `[[registry]]` or in a `[[registry.mirror]]` table.

    Args:
        data: the parsed file; tables of the wrong shape are left to the parser, which refuses them.
        source: the file's name, for the line.
    """
    _say(data, TOP, source, "at the top level")
    tables = data.get("registry")
    for table in tables if isinstance(tables, list) else ():
        if not isinstance(table, dict):
            continue
        where = f"in [[registry]] {table.get('prefix') or table.get('location')!r}"
        _say(table, REGISTRY, source, where)
        mirrors = table.get("mirror")
        for mirror in mirrors if isinstance(mirrors, list) else ():
            if isinstance(mirror, dict):
                _say(mirror, MIRROR, source, f"in its [[registry.mirror]] {mirror.get('location')!r}")


def _say(table: dict[str, Any], known: tuple[str, ...], source: str, where: str) -> None:
    for key in table:
        if key not in known:
            log.warning("%s: %r %s is no registries.conf setting%s: ignored, as podman and skopeo ignore it",
                        source, key, where, did_you_mean(key, known))
