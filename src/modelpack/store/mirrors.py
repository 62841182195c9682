"""registries.conf (containers-registries.conf(5), as podman, skopeo, buildah and CRI-O read it): where a
reference is really read from and written to. Pure matching; `registries_parse.py` reads a file's
tables, `remote_routes.py` and `mirrored.py` do the I/O.

Matching follows containers/image's (pkg/sysregistriesv2): a prefix matches where the name continues
with `/` or `:` (so `example.com` also matches `example.com:5000`, and rewrites it to `LOCATION:5000`),
and `*.example.com` matches a host ending so, its port carried over to each mirror's location.

Read: `[[registry]]` tables (`prefix`, `location`, `insecure`, `blocked`, `mirror-by-digest-only`) with
their `[[registry.mirror]]` tables (`location`, `insecure`, `pull-from-mirror`), and the version-1
`[registries.insecure]` / `[registries.block]` lists, and the top-level `credential-helpers` list
(credential_sources.py follows it). `[aliases]` are kept, to be named when a short
name is refused; the other settings modelpack does not use are said with -v (`short_names.py`).

Which files are read, and how they are merged: `registries_files.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from modelpack.errors import UsageError
from modelpack.oci.hosts import canonical_host, canonical_name, split_port
from modelpack.oci.reference import DOCKER_HUB, Reference, is_registry_host, is_repository_name
from modelpack.store.short_names import Alias


@dataclass(frozen=True)
class Mirror:
    """One `[[registry.mirror]]`: a location that may serve what its registry's prefix names."""

    location: str
    insecure: bool = False
    pull_from: str = "all"  # which pulls may use it: "all", "digest-only" or "tag-only"

    def serves(self, by_digest: bool) -> bool:
        """Whether a pull by digest (or, when False, by tag) may read from this mirror."""
        return self.pull_from == "all" or self.pull_from == ("digest-only" if by_digest else "tag-only")


@dataclass(frozen=True)
class RegistryEntry:
    """One `[[registry]]` table, with the file that defined it (named in every error about it)."""

    prefix: str
    location: str  # "" for a wildcard prefix: the host that matched is kept
    source: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Mirror, ...] = ()

    @property
    def wildcard(self) -> bool:
        return self.prefix.startswith("*.")

    def matched(self, name: str) -> int:
        """How many leading characters of `name` (host/repository) this entry's prefix matches; -1: none.
        As containers/image matches: what follows the match is nothing, `/` or `:` (a port: `example.com`
        matches `example.com:5000`, so a port does not escape `blocked`); the port after a wildcard's domain
        is not part of the match. Unlike containers/image, whose `blocked = true` all let through: host
        names match whatever their case (`Evil.example.com` is the host DNS finds for `evil.example.com`),
        an address however it is written (`127.1` is the 127.0.0.1 the resolver connects to), and a
        wildcard's domain must end the host name (containers/image looks for its first occurrence,
        so `*.example.com` missed `a.example.com.example.com`)."""
        host, slash, rest = name.partition("/")
        written = split_port(host)[0]
        address = canonical_name(written)  # (repositories are lower case by their grammar)
        key = canonical_host(host) + slash + rest
        if self.wildcard:
            return len(written) if address.endswith(self.key[1:]) else -1
        if not key.startswith(self.key):
            return -1
        end = len(self.key)
        if key[end:end + 1] not in ("", "/", ":"):
            return -1
        # The same place in `name` as written: the end of its host name, or as far past its host and port.
        return len(written) if end == len(address) else end - len(key) + len(name)

    @property
    def key(self) -> str:
        """The prefix as `matched` compares it: its host as the resolver sees it (`canonical_host`)."""
        if self.wildcard:
            return self.prefix.lower()
        host, slash, rest = self.prefix.partition("/")
        return canonical_host(host) + slash + rest


@dataclass(frozen=True)
class Endpoint:
    """A place a reference is read from: its (rewritten) reference there and how to talk to it."""

    reference: Reference
    insecure: bool = False
    mirror: bool = False

    @property
    def host(self) -> str:
        return self.reference.api_host


@dataclass(frozen=True)
class Route:
    """Where a reference goes: `origin` (every write, and reads last) and the mirrors reads try first."""

    origin: Endpoint
    mirrors: tuple[tuple[Mirror, Endpoint], ...] = ()

    def sources(self, by_digest: bool) -> list[Endpoint]:
        """The endpoints a pull tries in order: the mirrors its kind (by digest or by tag) may use, then
        the origin."""
        return [endpoint for mirror, endpoint in self.mirrors if mirror.serves(by_digest)] + [self.origin]

    def unasked(self, by_digest: bool) -> list[tuple[str, str]]:
        """The mirrors a pull of this kind may not use: (host, its `pull-from-mirror`), to name when the
        origin cannot be reached (a tag pull with digest-only mirrors fails as if there were none)."""
        return [(endpoint.host, mirror.pull_from) for mirror, endpoint in self.mirrors if not mirror.serves(by_digest)]


@dataclass(frozen=True)
class RegistriesConf:
    entries: tuple[RegistryEntry, ...] = ()
    files: tuple[str, ...] = ()
    aliases: tuple[Alias, ...] = ()  # not followed: named when a short name is refused (short_names.py)
    credential_helpers: tuple[str, ...] = ()  # `credential-helpers`; () when unset (credential_sources.py)

    def entry_for(self, name: str) -> RegistryEntry | None:
        """The table whose prefix matches `name` (host/repository) longest. Of prefixes equally long, the
        first in sorted order, as containers/image keeps its tables sorted: `*.example.com` beats
        `a.example.com`, `*` sorting before any host name."""
        found: RegistryEntry | None = None
        for entry in self.entries:
            if entry.matched(name) < 0:
                continue
            if found is None or len(entry.key) > len(found.key) or \
                    (len(entry.key) == len(found.key) and entry.prefix < found.prefix):
                found = entry
        return found

    def route(self, reference: Reference) -> Route:
        """Where `reference` is read and written.

        Args:
            reference: a reference naming a registry.

        Returns:
            Its origin (rewritten by `location`) and its mirrors; an unlisted registry is its own origin.

        Raises:
            UsageError: the reference is blocked, or a location rewrites it into no valid reference.
        """
        name = full_name(reference)
        entry = self.entry_for(name)
        if entry is None:
            return Route(Endpoint(reference))
        if entry.blocked:
            raise _blocked(reference.name, entry)
        rest = name[entry.matched(name):]
        origin = _rewrite(reference, entry.location + rest, entry) if entry.location else reference
        mirrors = tuple((m, Endpoint(_rewrite(reference, m.location + rest, entry), m.insecure, True))
                        for m in entry.mirrors)
        return Route(Endpoint(origin, entry.insecure), mirrors)

    def check_host(self, host: str) -> RegistryEntry | None:
        """Refuse a command that talks to registry `host` itself (login, its catalog) when a table blocks
        the whole host, as containers/image refuses any client for a blocked registry.

        Returns:
            The table for the whole host (its `insecure` applies to such a command), None when none is.

        Raises:
            UsageError: `host` is blocked.
        """
        entry = self.entry_for(host)
        if entry is not None and entry.blocked:
            raise _blocked(host, entry)
        return entry


def _blocked(name: str, entry: RegistryEntry) -> UsageError:
    return UsageError(f"{name} is blocked by {entry.source} (prefix {entry.prefix!r}, blocked = true): nothing "
                      "was sent; edit that file to allow it")


def full_name(reference: Reference) -> str:
    """host/repository as registries.conf matches it: Docker Hub's official images under `library/`."""
    repository = reference.repository
    if reference.registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return f"{reference.registry}/{repository}"


def _rewrite(reference: Reference, name: str, entry: RegistryEntry) -> Reference:
    host, _, repository = name.partition("/")
    if not is_registry_host(host) or not is_repository_name(repository):
        raise UsageError(f"{entry.source}: prefix {entry.prefix!r} maps {reference.name} to {name!r}, which is "
                         "no registry/repository name; fix the location")
    return replace(reference, registry=host, repository=repository)
