"""A registry reference opened as registries.conf routes it (see `mirrors`): `location` rewrites it,
`blocked` refuses it, `insecure` relaxes TLS, and a reader's requests may go through mirrors (`mirrored`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelpack.errors import InvalidReferenceError, UsageError
from modelpack.oci.hosts import canonical_host
from modelpack.oci.reference import DOCKER_HUB, DOCKER_HUB_API, Reference, check_port
from modelpack.store import registries_files as registries_conf
from modelpack.store.mirrors import Endpoint
from modelpack.store.options import ClientOptions
from modelpack.store.registry import RegistryRepository, open_repository
from modelpack.store.short_names import alias_hint

if TYPE_CHECKING:
    from modelpack.store.client import RegistryClient
    from modelpack.store.mirrored import MirroredRepository


def open_remote(reference: Reference, options: ClientOptions | None = None, *,
                mirrors: bool = False) -> RegistryRepository | MirroredRepository:
    """The registry repository `reference` names, as registries.conf routes it.

    Args:
        reference: a reference naming a registry.
        options: how to reach registries (default: the safe defaults).
        mirrors: the caller only reads (pull, inspect, copy's source): its reads may go through mirrors.

    Returns:
        The origin repository (after any `location` rewrite), or one that reads through mirrors first.

    Raises:
        UsageError: the reference names no registry, is blocked, or a registries.conf file is malformed.
    """
    require_registry(reference)
    options = options or ClientOptions()
    route = registries_conf.load().route(reference)
    by_digest = reference.digest is not None
    sources = route.sources(by_digest) if mirrors else [route.origin]
    unasked = route.unasked(by_digest) if mirrors else []
    if len(sources) == 1 and not unasked:
        return open_endpoint(route.origin, options)
    from modelpack.store.mirrored import MirroredRepository  # (which opens its endpoints with open_endpoint)

    return MirroredRepository(sources, options, unasked=unasked)


def require_registry(reference: Reference) -> None:
    """`reference.require_registry()`; a short name with an alias in registries.conf is refused naming it.

    Raises:
        InvalidReferenceError: the reference names no registry.
    """
    try:
        reference.require_registry()
    except InvalidReferenceError as exc:
        try:
            found = {alias.name: alias for alias in registries_conf.load().aliases}
        except UsageError:  # a malformed file is not this error's news
            raise exc from None
        hint = alias_hint(reference.repository, reference.tag, reference.digest, found)
        if hint is None:
            raise
        raise InvalidReferenceError(f"reference {reference.written} names no registry; {hint}") from None


def open_endpoint(endpoint: Endpoint, options: ClientOptions) -> RegistryRepository:
    """The repository at one endpoint, with its client options (`insecure`: HTTPS unchecked, or plain HTTP
    where the host speaks no TLS).

    Raises:
        TransportError: an `insecure` host answers neither HTTPS nor HTTP.
    """
    return open_repository(endpoint.reference, _endpoint_options(endpoint.host, endpoint.insecure, endpoint.mirror,
                                                                 options))


def host_client(host: str, options: ClientOptions) -> RegistryClient:
    """The client for registry `host` itself, not one of its repositories (login, its catalog), as
    registries.conf's table for the whole host says: refused when it blocks the host; HTTPS unchecked, or
    plain HTTP where the host speaks no TLS, when it says `insecure = true` (as podman's login reads it).

    Raises:
        UsageError: the host is blocked, is a name registries.conf's `location` rewrites to another host (whose
            catalog and credentials its pulls use), or registries.conf is malformed.
        TransportError: an `insecure` host answers neither HTTPS nor HTTP.
    """
    check_port(host, host)
    entry = registries_conf.load().check_host(host)
    if entry is not None and entry.location and not entry.wildcard and entry.key == canonical_host(host):
        elsewhere = entry.location.partition("/")[0]
        # its pulls and their credentials go there: a login here would never be used
        if canonical_host(elsewhere) != canonical_host(host):
            raise UsageError(f"{host} is a name {entry.source} rewrites to {entry.location}: its repositories are "
                             f"read and written at {elsewhere}; name {elsewhere} instead")
    chosen = _endpoint_options(host, entry is not None and entry.insecure, False, options)
    return chosen.client_for(DOCKER_HUB_API if host == DOCKER_HUB else host)


def _endpoint_options(host: str, insecure: bool, mirror: bool, options: ClientOptions) -> ClientOptions:
    """`options` as one registries.conf endpoint needs them; an `insecure` host is probed for TLS once."""
    plain = options.plain_http
    if insecure and not plain:
        if host not in options.schemes:
            probe = options.for_endpoint(plain_http=False, insecure=True, mirror=mirror).client_for(host)
            options.schemes[host] = not probe.speaks_tls()
        plain = options.schemes[host]
    return options.for_endpoint(plain_http=plain, insecure=options.insecure or insecure, mirror=mirror)
