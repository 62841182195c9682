"""Serving the UI: the serve command's HTTP layer (uvicorn on a socket bound first, header deadlines, a
graceful stop on SIGTERM or SIGINT) with the UI's application."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from modelpack.errors import MissingDependencyError
from modelpack.http_hosts import HostNames
from modelpack.serve.http_server import InferenceServer, listen
from modelpack.serve.limits import ServerLimits
from modelpack.ui.site import Site


def make_ui_server(site: Site, host: str = "127.0.0.1", port: int = 8080,
                   allow_hosts: Sequence[str] = ()) -> InferenceServer:
    """The UI's server, listening already; call `serve_forever()` on it.

    Args:
        site: what to show.
        host: address to listen on (default loopback only: the pages show what the user's credentials read).
        port: port to listen on (0: any free port).
        allow_hosts: host names answered besides IP addresses, `localhost` and this machine's name (a
            reverse proxy's, the machine's DNS name; `*.example.com`; `*` answers any: see `modelpack.http_hosts`).

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

    # A page from elsewhere whose name resolves to this machine must not read ours (DNS rebinding), whichever
    # address the UI listens on: on every address, a LAN's browser is as exposed as this machine's.
    sock = listen(host, port)
    try:
        return InferenceServer(build_app(site, HostNames(allow_hosts)), sock, ServerLimits())
    except BaseException:
        sock.close()
        raise
