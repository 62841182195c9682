"""Serving the UI: the serve command's HTTP layer (uvicorn on a socket bound first, header deadlines, a
graceful stop on SIGTERM or SIGINT) with the UI's application."""

from __future__ import annotations

import importlib

from modelpack.errors import MissingDependencyError
from modelpack.serve.http_server import InferenceServer, listen
from modelpack.serve.limits import ServerLimits
from modelpack.ui.site import Site

_ANY = ("0.0.0.0", "::", "")


def make_ui_server(site: Site, host: str = "127.0.0.1", port: int = 8080) -> InferenceServer:
    """The UI's server, listening already; call `serve_forever()` on it.

    Args:
        site: what to show.
        host: address to listen on (default loopback only: the pages show what the user's credentials read).
        port: port to listen on (0: any free port).

    Returns:
        The server.

    Raises:
        MissingDependencyError: the `[ui]` extra is not installed.
        UsageError: the address cannot be listened on.
    """
    for module in ("uvicorn", "starlette", "jinja2", "markdown_it"):
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(f'modelpack ui needs {module}, which is not installed: '
                                         'pip install "modelpack[ui]"') from None
    from modelpack.ui.app import build_app

    # A page from elsewhere whose name resolves to this address must not read ours (DNS rebinding):
    # only the names of this address are accepted, unless it listens on every address anyway.
    names = {host, f"[{host}]"} if ":" in host else {host}  # an IPv6 address, as a Host header writes it
    allowed = None if host in _ANY else sorted(names | {"localhost", "127.0.0.1"})
    sock = listen(host, port)
    try:
        return InferenceServer(build_app(site, allowed), sock, ServerLimits())
    except BaseException:
        sock.close()
        raise
