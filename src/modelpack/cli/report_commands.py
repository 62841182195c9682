"""`report`: the technical documentation of one model version (the API gathers and renders)."""

from __future__ import annotations

from pathlib import Path, PurePath

import click

from modelpack.cli.common import client_options, handle_errors, network_options, write_output
from modelpack.cli.escape import clean
from modelpack.cli.file_types import RegularFile
from modelpack.report.facts import REPORT_FORMATS


@click.command()
@click.argument("reference")
@click.option("--key", "keys", multiple=True, type=RegularFile(),
              help="Public key (cosign.pub) to verify signatures and attestations with. Repeatable.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True,
              help="Where to write the document (- is standard output).")
@click.option("--format", "fmt", type=click.Choice(list(REPORT_FORMATS)), default=None,
              help="html (self-contained, prints well), md (Markdown) or json (the facts, for scripts). "
                   "Default: from -o's suffix, else html.")
@click.option("--json", "as_json", is_flag=True, help="The facts as JSON (as --format json).")
@click.option("--local", is_flag=True, help="Read the model in the local store, not the registry.")
@network_options
@handle_errors
def report(reference: str, keys: tuple[str, ...], output: str, fmt: str | None, as_json: bool, local: bool,
           plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool) -> None:
    """Write the technical documentation of a model version, in sections mapped to the EU AI Act's
    Annex IV: identity, description and intended use, architecture, hyperparameters, data, lineage (with
    what changed from each parent), evaluation, integrity (signatures and attestations, verified with
    --key), lifecycle (tags and sibling versions) and monitoring (the digest label of `serve`'s /metrics)."""
    from modelpack.api.reporting import build_report, render_report
    from modelpack.errors import UsageError
    from modelpack.signatures.keys import load_public_key

    # As `verify --key` and `ui --key`: a key that cannot be read is the reviewer's input error (exit 2),
    # not a "not verified" in a document that may be filed as evidence.
    for key in keys:
        load_public_key(Path(key))
    options = client_options(plain_http, insecure, ca_file, verbose)
    if as_json and fmt not in (None, "json"):
        raise UsageError(f"--json and --format {fmt} ask for two formats: give one")
    fmt = "json" if as_json else fmt or _format_of(output)
    facts = build_report(reference, list(keys), local=local, options=options)
    text = render_report(facts, fmt)
    if output == "-":
        click.echo(text, nl=False)
    else:
        write_output(output, text.encode("utf-8"))
        verified = "signature verified" if facts.verified else \
            ("no signature verified" if keys else "no key given, nothing verified")
        click.echo(f"wrote the {fmt} report of {clean(facts.reference)} ({clean(facts.digest)}; {verified}) "
                   f"to {clean(output)}", err=True)


def _format_of(output: str) -> str:
    """The format -o's suffix names (.md, .markdown, .json; .html, .htm or none: html).

    Raises:
        UsageError: another suffix (`report.pdf`): an HTML document under it would be a surprise.
    """
    from modelpack.errors import UsageError

    suffix = PurePath(output).suffix.lower().removeprefix(".")
    found = {"md": "md", "markdown": "md", "json": "json", "html": "html", "htm": "html", "": "html"}.get(suffix)
    if found is None:
        raise UsageError(f"-o {output}: .{suffix} names no format the report is written in "
                         f"({', '.join(REPORT_FORMATS)}): give --format, or -o with .html, .md or .json")
    return found


COMMANDS = (report,)
