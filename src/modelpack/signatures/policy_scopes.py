"""Which `transports.docker` scope of a policy file names a reference (containers-policy.json(5)): the
reference itself, its repository, each namespace up to the host, then `*.domain` wildcards from the longest.
Hosts are compared as the resolver sees them on both sides: names in lower case, an address however it is
written (`canonical_host`; see `scope_candidates`).
"""

from __future__ import annotations

from dataclasses import replace

from modelpack.oci.hosts import canonical_host
from modelpack.oci.reference import Reference
from modelpack.signatures.policy_identity import normalized


def scope_candidates(ref: Reference) -> list[str]:
    """The docker scopes that may name `ref`, most specific first (containers/image's order), its host in
    lower case: `Registry.example.com` is the host DNS finds for `registry.example.com`, so a scope of that
    host applies to it (containers/image compares case: a policy's scope was escaped by writing the host
    another way, falling through to a default that may accept anything); an address is one however it is
    written (`127.1` reaches the 127.0.0.1 a scope names).

    Args:
        ref: a fully qualified reference.

    Returns:
        The reference itself, its repository, each namespace up to the host, then `*.domain` wildcards.
    """
    name = normalized(ref)
    name = replace(name, registry=canonical_host(name.registry))
    identity = f"{name.name}:{name.tag}" if name.tag else f"{name.name}@{name.digest}"
    found = [identity]
    path = name.name
    while "/" in path:
        found.append(path)
        path = path.rsplit("/", 1)[0]
    found.append(path)
    host = path.partition(":")[0] if not path.startswith("[") else path
    while "." in host:
        host = host.split(".", 1)[1]
        found.append(f"*.{host}")
    return found


def fold_scope(scope: str) -> str:
    """A docker scope with its host (all before the first `/`) as `scope_candidates` has it.

    Args:
        scope: a `transports.docker` key of a policy file (`""` and `*.domain` included).

    Returns:
        The scope to compare with `scope_candidates`' (a tag keeps its case: tags are case-sensitive).
    """
    host, slash, rest = scope.partition("/")
    return canonical_host(host) + slash + rest
