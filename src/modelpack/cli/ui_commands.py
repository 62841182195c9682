"""`modelpack ui`: a read-only web UI over registries."""

from __future__ import annotations

import click

from modelpack.cli.common import client_options, handle_errors, network_options, visit_host


@click.command()
@click.argument("targets", nargs=-1, required=True, metavar="REGISTRY | REGISTRY/REPOSITORY ...")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (the pages show what your registry credentials can read).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="A host name the pages are answered under besides IP addresses, localhost and this machine's "
                   "name (a reverse proxy's, the machine's DNS name; *.example.com; '*': any). Others get 400: "
                   "a page of another site must not read these pages (DNS rebinding). Repeatable.")
@click.option("--key", "keys", multiple=True, metavar="FILE",
              help="Public key (cosign.pub) signatures are verified with. Repeatable.")
@network_options
@handle_errors
def ui(targets: tuple[str, ...], host: str, port: int, allow_hosts: tuple[str, ...], keys: tuple[str, ...],
       plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool) -> None:
    """Browse models in a web UI, read-only: a registry's repositories (its catalog, where it shows it)
    or the repositories named, every version with its metrics, signature status and lineage. Credentials
    come from the docker config (`modelpack login`) and never reach a page."""
    from modelpack.serve.lifecycle import run
    from modelpack.store.layout import LayoutStore
    from modelpack.ui.server import make_ui_server
    from modelpack.ui.site import Site

    site = Site.from_arguments(list(targets), list(keys), client_options(plain_http, insecure, ca_file, verbose),
                               LayoutStore())
    server = make_ui_server(site, host, port, allow_hosts)
    run(server, ready=lambda: click.echo(f"browse http://{visit_host(host)}:{server.server_address[1]}/", err=True))


COMMANDS = (ui,)
