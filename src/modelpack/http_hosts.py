"""Which Host headers `ui` and `serve` answer: their defence against DNS rebinding.

A page of another site can make its own name resolve to this machine (DNS rebinding) and then read our
pages as its own origin: for the UI everything the user's registry credentials can read, for `serve` the
model's metadata, /metrics and inference. The browser sends that
site's name as the Host header, which is how the page is told apart. So the UI answers a request only when
its Host is one a user reaches it by: an IP address (a rebinding page has a name of its own, never an
address), `localhost`, this machine's names, or a name the user allowed (`ui --allow-host`, for a reverse
proxy or a DNS name of the machine). Listening on every address no longer turns the check off; only
`--allow-host '*'` does.

`serve` checks when it listens on a loopback address (its default) or was given `--allow-host`; on every
address without `--allow-host` it does not: in Kubernetes a pod is reached by service names and IPs it
cannot list (`serving_host_names`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class HostNames:
    """The host names a server answers to (IP addresses are always answered).

    Args:
        allowed: names accepted besides `localhost` and this machine's own; `*.example.com` accepts the
            names under example.com, `*` every name.
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        names = {"localhost", *_machine_names(), *(name.strip().lower().rstrip(".") for name in allowed)}
        self.any = "*" in names
        self._exact = {name for name in names if not name.startswith("*.")}
        self._suffixes = tuple(name[1:] for name in names if name.startswith("*."))  # ".example.com"

    def accepts(self, host_header: str) -> bool:
        """Whether a request whose Host header is `host_header` (with or without a port) is answered."""
        if self.any:
            return True
        host = _without_port(host_header.strip()).lower().rstrip(".")
        if not host:
            return False
        if _is_address(host):
            return True
        return host in self._exact or host.endswith(self._suffixes)


class HostCheck:
    """ASGI middleware answering 400 (as Starlette's TrustedHostMiddleware) to a request whose Host is not
    one of `names`: nothing of the application runs for it."""

    def __init__(self, app: App, names: HostNames) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.names.accepts(_host_header(scope)):
            body = b"Invalid host header: a page of another site cannot read this one (see --allow-host)"
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def serving_host_names(listen_host: str, allowed: Iterable[str] = ()) -> HostNames | None:
    """The Host names `serve` answers when listening on `listen_host`.

    Args:
        listen_host: the address `serve` listens on (`--host`).
        allowed: the `--allow-host` names.

    Returns:
        The names to check: given names always; a loopback address (only this machine's browsers reach
        it, and a rebinding page is one of them) without any; None (no check) on other addresses without
        names: a container's 0.0.0.0 is reached by names the server cannot know.
    """
    allowed = tuple(allowed)
    if allowed or _is_loopback(listen_host):
        return HostNames(allowed)
    return None


def _is_loopback(host: str) -> bool:
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_header(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


def _without_port(host: str) -> str:
    if host.startswith("["):  # [::1]:8080
        return host[1:host.find("]")] if "]" in host else ""
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host  # a name, an IPv4 address, or a bare IPv6 address


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _machine_names() -> set[str]:
    """This machine's host name (what `curl http://$(hostname):8080` sends). Not its fully qualified name:
    finding it may wait on a DNS server; `--allow-host` names it."""
    name = socket.gethostname().lower().rstrip(".")
    return {name} if name else set()
