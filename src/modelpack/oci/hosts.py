"""A registry host as the resolver sees it, for matching `blocked`, `insecure` and policy scopes.

An IP address is one address however it is written: the resolver (getaddrinfo, through inet_aton) connects
`127.1`, `2130706433`, `0x7f.0.0.1` and `0177.0.0.1` to 127.0.0.1, and `[::ffff:127.0.0.1]` reaches it too,
so a host blocked as `127.0.0.1` is compared as that address. A name is compared in lower case (DNS ignores
case). Pure: nothing is resolved.
"""

from __future__ import annotations

import ipaddress
import re
import socket

# What inet_aton's numbers are made of (decimal, 0x hex, 0 octal): only such text is read as an address
# (inet_aton itself stops at a space and accepts what follows).
_V4_FORMS = re.compile(r"[0-9][0-9a-fA-FxX]*(?:\.[0-9][0-9a-fA-FxX]*){0,3}")


def split_port(host: str) -> tuple[str, str]:
    """`host[:port]` split into the host and its port ("" when none); `[v6]:port` keeps its brackets.

    Args:
        host: a registry host as a reference writes it.

    Returns:
        (host, port).
    """
    if host.startswith("["):
        end = host.find("]")
        if end > 0 and host[end + 1:end + 2] == ":":
            return host[:end + 1], host[end + 2:]
        return host, ""
    name, colon, port = host.rpartition(":")
    return (name, port) if colon else (host, "")


def canonical_name(name: str) -> str:
    """One spelling per host: an IPv4 address dotted-decimal, an IPv6 one compressed in brackets (a
    v4-mapped one as its IPv4 address), a name in lower case.

    Args:
        name: a host without its port (`127.1`, `[::1]`, `Registry.Example.com`).

    Returns:
        The spelling compared.
    """
    if name.startswith("[") and name.endswith("]"):
        try:
            address = ipaddress.ip_address(name[1:-1])
        except ValueError:
            return name.lower()
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return f"[{address.compressed}]"
        return str(address)
    if _V4_FORMS.fullmatch(name):
        try:
            return socket.inet_ntoa(socket.inet_aton(name))
        except OSError:  # digits that are no address (`999.1`): a name, compared as written
            pass
    return name.lower()


def canonical_host(host: str) -> str:
    """`canonical_name` of a `host[:port]`, its port without leading zeros.

    Args:
        host: a registry host as a reference or a configuration file writes it.

    Returns:
        The spelling compared (`127.1:05000` gives `127.0.0.1:5000`).
    """
    name, port = split_port(host)
    port = port.lstrip("0") or port[:1]  # (not int(): a port of thousands of digits would raise)
    return canonical_name(name) + (f":{port}" if port else "")
