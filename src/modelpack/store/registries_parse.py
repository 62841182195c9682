"""registries.conf's text into its tables (containers-registries.conf(5)): `[[registry]]` tables with their
`[[registry.mirror]]` tables, the version-1 `[registries.insecure]` / `[registries.block]` lists, the
top-level `credential-helpers` list and `[aliases]`, each checked as containers/image checks it. Pure;
`mirrors.py` matches references against the tables, `registries_files.py` says which files are read.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, NamedTuple

from modelpack import advice
from modelpack.errors import UsageError
from modelpack.oci.hosts import canonical_host
from modelpack.oci.reference import check_port, is_domain, is_registry_host, is_repository_name
from modelpack.store.credential_helper import check_name
from modelpack.store.mirrors import Mirror, RegistryEntry
from modelpack.store.registries_keys import warn_unknown
from modelpack.store.short_names import Alias, aliases, say_unused

PULL_FROM = ("all", "digest-only", "tag-only")
# Mirrors tried per [[registry]]: real files list one to three; thousands made one pull try each in turn
# (10,000 dead ones: over 10 minutes, and an error line naming them all).
MAX_MIRRORS = 16
MAX_CREDENTIAL_HELPERS = 16  # each may take up to its timeout: a long list would stall every login
AUTH_FILES = "containers-auth.json"  # the name that stands for the auth files, not a program


def parse(text: str, source: str, drop_in: bool = False) -> list[RegistryEntry]:
    """The `[[registry]]` tables of one file.

    Args:
        text: the file's content (TOML).
        source: the file's name, for error messages.
        drop_in: a `registries.conf.d` file, which must be version 2 (containers-registries.conf.d(5)).

    Returns:
        The entries, in file order.

    Raises:
        UsageError: not TOML, or a table that does not follow containers-registries.conf(5).
    """
    return parse_file(text, source, drop_in)[0]


class ParsedFile(NamedTuple):
    """What one registries.conf file says."""

    entries: list[RegistryEntry]
    aliases: list[Alias]
    credential_helpers: tuple[str, ...] | None  # None: the file does not set `credential-helpers`


def parse_file(text: str, source: str, drop_in: bool = False) -> ParsedFile:
    """`parse`, the file's `[aliases]` and its `credential-helpers` (settings modelpack does not use are
    said with -v).

    Raises:
        UsageError: as `parse`.
    """
    # Imported here: most machines have no registries.conf (its parser and regexes cost ~1.5 ms).
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 (tomli is a dependency there)
        import tomli as tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source} is not valid TOML ({exc}); fix or remove it") from None
    except RecursionError:  # tomllib recurses per nesting level: a file under the size cap can still exhaust it
        raise UsageError(f"{source} is not valid TOML (nested too deeply); fix or remove it") from None
    tables = data.get("registry", [])
    legacy = data.get("registries", {})
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UsageError(f"{source}: `registry` must be [[registry]] tables")
    if tables and legacy:
        raise UsageError(f"{source} mixes version 1 ([registries.*]) and version 2 ([[registry]]) tables; use one")
    if legacy and drop_in:
        raise UsageError(f"{source}: a drop-in must be version 2 ([[registry]] tables), not [registries.*]; "
                         "convert it")
    entries = [_entry(table, source) for table in tables] + _legacy(legacy, source)
    check_conflicts(entries)
    say_unused(data, source)
    warn_unknown(data, source)
    # The same prefix twice in one file: the first table applies, as in containers/image (skopeo asks the
    # first one's mirrors); a later file's table of that prefix replaces it (see registries_files).
    first: dict[str, RegistryEntry] = {}
    for entry in entries:
        first.setdefault(entry.prefix, entry)
    return ParsedFile(list(first.values()), aliases(data, source), _credential_helpers(data, source))


def _credential_helpers(data: dict[str, Any], source: str) -> tuple[str, ...] | None:
    """The file's `credential-helpers` list, checked: names only (each becomes `docker-credential-NAME`)."""
    if "credential-helpers" not in data:
        return None
    value = data["credential-helpers"]
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise UsageError(f"{source}: credential-helpers must be a list of names, e.g. "
                         "[\"containers-auth.json\", \"pass\"]; fix it")
    if len(value) > MAX_CREDENTIAL_HELPERS:
        raise UsageError(f"{source}: {len(value)} credential-helpers, over the {MAX_CREDENTIAL_HELPERS} modelpack "
                         "tries; shorten the list")
    for name in value:
        if name != AUTH_FILES:
            check_name(name, source)
    return tuple(value)


def check_conflicts(entries: Iterable[RegistryEntry]) -> None:
    """Refuse a location defined twice with different `insecure` or `blocked`, as containers/image
    refuses it: which one applied would depend on the prefix a reference happens to match.

    Raises:
        UsageError: such a pair, naming its file(s) and prefixes.
    """
    seen: dict[str, RegistryEntry] = {}
    for entry in entries:
        if not entry.location:  # a wildcard's: the host matched is kept, nothing to conflict on
            continue
        host, slash, rest = entry.location.partition("/")
        other = seen.setdefault(canonical_host(host) + slash + rest, entry)  # (one host however written)
        for flag in ("insecure", "blocked"):
            if getattr(other, flag) != getattr(entry, flag):
                where = entry.source if entry.source == other.source else f"{other.source} and {entry.source}"
                raise UsageError(f"{where}: location {entry.location!r} is defined more than once with "
                                 f"conflicting {flag} (prefixes {other.prefix!r} and {entry.prefix!r}); make them "
                                 "agree")


def _entry(table: dict[str, Any], source: str) -> RegistryEntry:
    prefix = _name(table, "prefix", source)
    location = _name(table, "location", source)
    if not prefix and not location:
        raise UsageError(f"{source}: a [[registry]] has neither prefix nor location")
    prefix = prefix or location
    if prefix.startswith("*."):
        if location:
            raise UsageError(f"{source}: the wildcard prefix {prefix!r} cannot have a location")
        _check_name(prefix[2:], source, "prefix", host_only=True, shown=prefix)
    else:
        _check_name(prefix, source, "prefix")
        location = location or prefix
    if location:
        _check_name(location, source, "location")
    by_digest_only = _flag(table, "mirror-by-digest-only", source)
    mirrors = table.get("mirror", [])
    if not isinstance(mirrors, list) or not all(isinstance(m, dict) for m in mirrors):
        raise UsageError(f"{source}: `mirror` of prefix {prefix!r} must be [[registry.mirror]] tables")
    if len(mirrors) > MAX_MIRRORS:
        raise UsageError(f"{source}: prefix {prefix!r} lists {len(mirrors)} mirrors; modelpack tries at most "
                         f"{MAX_MIRRORS}: keep the nearest")
    return RegistryEntry(prefix, location, source, _flag(table, "insecure", source), _flag(table, "blocked", source),
                         tuple(_mirror(m, source, prefix, by_digest_only) for m in mirrors))


def _mirror(table: dict[str, Any], source: str, prefix: str, by_digest_only: bool) -> Mirror:
    location = _name(table, "location", source)
    if not location:
        raise UsageError(f"{source}: a mirror of prefix {prefix!r} has no location")
    _check_name(location, source, "mirror location")
    pull_from = _text(table, "pull-from-mirror", source)
    if pull_from and pull_from not in PULL_FROM:
        raise UsageError(f"{source}: pull-from-mirror = {pull_from!r} (mirror {location}); "
                         f"expected {', '.join(PULL_FROM)}")
    if by_digest_only and pull_from:  # containers/image refuses both, even when they agree
        raise UsageError(f"{source}: prefix {prefix!r} sets mirror-by-digest-only and its mirror {location} "
                         f"sets pull-from-mirror = {pull_from!r}; keep one")
    return Mirror(location, _flag(table, "insecure", source),
                  pull_from or ("digest-only" if by_digest_only else "all"))


def _legacy(tables: Any, source: str) -> list[RegistryEntry]:
    """Version 1: `[registries.insecure] registries = [...]` and `[registries.block]` (search is ignored)."""
    if not isinstance(tables, dict):
        raise UsageError(f"{source}: `registries` must be a table")
    hosts: dict[str, dict[str, bool]] = {}
    for kind in ("insecure", "block"):
        names = tables.get(kind, {}).get("registries", []) if isinstance(tables.get(kind, {}), dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise UsageError(f"{source}: [registries.{kind}] registries must be a list of strings")
        for name in (n.strip().rstrip("/") for n in names):
            _check_name(name, source, f"registries.{kind} entry")
            hosts.setdefault(name, {})["blocked" if kind == "block" else "insecure"] = True
    return [RegistryEntry(name, name, source, insecure=flags.get("insecure", False),
                          blocked=flags.get("blocked", False)) for name, flags in hosts.items()]


def _text(table: dict[str, Any], key: str, source: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise UsageError(f"{source}: {key} must be a string, not {value!r}")
    return value.strip()


def _name(table: dict[str, Any], key: str, source: str) -> str:
    """A prefix or location, trailing slashes trimmed as containers/image does (kept, a prefix matched
    nothing, and its `blocked = true` went unnoticed)."""
    return _text(table, key, source).rstrip("/")


def _flag(table: dict[str, Any], key: str, source: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise UsageError(f"{source}: {key} must be true or false, not {value!r}")
    return value


def _check_name(value: str, source: str, what: str, host_only: bool = False, shown: str | None = None) -> None:
    """host[:port][/namespace...]; no scheme, tag or digest (modelpack matches repository prefixes).
    `shown`: what the file says, named in errors (a wildcard's `*.`, which `value` lacks)."""
    if "@" in value.partition("://")[2 if "://" in value else 0].partition("/")[0]:
        # Not echoed: it would print a password to a terminal or a CI log.
        raise UsageError(f"{source}: a {what} names a user (user[:password]@host); registries.conf takes no "
                         "credentials", advice=advice.login("HOST"))
    if "://" in value:
        raise UsageError(f"{source}: {what} {value!r} must not name a scheme (insecure = true allows plain HTTP)")
    host, _, path = value.partition("/")
    host_ok = is_domain(host) if host_only else is_registry_host(host)
    if not host_ok or (path and (host_only or not is_repository_name(path))):
        raise UsageError(f"{source}: {what} {shown or value!r} is not host[:port][/namespace] (no tag or digest)")
    check_port(host, f"{source}: {what} {shown or value!r}")
