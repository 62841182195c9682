"""`attest` and `verify-attestation`: cosign-compatible attestations (the API does the work)."""

from __future__ import annotations

from pathlib import Path

import click

from modelpack.cli.common import (
    client_options,
    handle_errors,
    json_option,
    network_options,
    plural,
    print_json,
    write_output,
)
from modelpack.cli.escape import clean
from modelpack.cli.file_types import RegularFile
from modelpack.cli.signing_commands import key_password

TYPE_HELP = ("Predicate type: slsaprovenance, slsaprovenance02, slsaprovenance1, link, spdx, spdxjson, cyclonedx, "
             "vuln, openvex, custom (cosign's short names), or a URI.")


@click.command()
@click.argument("reference")
@click.option("--key", required=True, type=RegularFile(), help="Private key (cosign.key).")
@click.option("--predicate", type=click.Path(dir_okay=False, allow_dash=True),
              help="The predicate file (- reads standard input).")
@click.option("--type", "type_name", help=TYPE_HELP + "  [default: custom]")
@click.option("--provenance", is_flag=True, help="Sign the SLSA v1 provenance `pack`/`push --provenance` recorded "
              "for this digest (as --type slsaprovenance1).")
@click.option("--local", is_flag=True, help="Attest the model in the local store (push and copy carry it).")
@network_options
@json_option
@handle_errors
def attest(reference: str, key: str, predicate: str | None, type_name: str | None, provenance: bool, local: bool,
           plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Sign an in-toto statement about a model (its manifest digest) with a predicate; stored where
    `cosign verify-attestation --type T` finds it. --provenance signs the recorded SLSA provenance."""
    from modelpack.api import attesting
    from modelpack.errors import UsageError
    from modelpack.signatures import predicates

    options = client_options(plain_http, insecure, ca_file, verbose)
    # Every mistake in the arguments is said before the key's password is asked for on a terminal.
    if provenance:
        if predicate is not None or type_name not in (None, "slsaprovenance1"):
            raise UsageError("--provenance signs the recorded provenance: leave out --predicate and --type")
        result = attesting.attest_provenance(reference, key, key_password(Path(key)), local=local, options=options)
    elif predicate is None:
        raise UsageError("give --predicate FILE (or --provenance to sign the recorded SLSA provenance)")
    else:
        raw = attesting.read_predicate(predicate)
        predicates.predicate_type(type_name or "custom")
        predicates.predicate_body(type_name or "custom", raw)
        result = attesting.attest(reference, key, key_password(Path(key)), raw, type_name or "custom", local=local,
                                  options=options)
    if as_json:
        print_json({"reference": str(result.reference), "digest": result.digest,
                    "predicateType": result.predicate_type, "attestation": result.attestation.digest})
    else:
        click.echo(f"attested {clean(result.reference.with_digest(result.digest))} ({clean(result.predicate_type)}; "
                   f"attestation {clean(result.attestation.digest)})")


@click.command(name="verify-attestation")
@click.argument("reference")
@click.option("--key", required=True, type=RegularFile(), help="Public key (cosign.pub).")
@click.option("--type", "type_name", default="custom", show_default=True, help=TYPE_HELP)
@click.option("--local", is_flag=True, help="Verify the model in the local store.")
@network_options
@json_option
@handle_errors
def verify_attestation(reference: str, key: str, type_name: str, local: bool, plain_http: bool, insecure: bool,
                       ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Verify a model's attestations of one type (modelpack's or cosign's) and print their predicates
    (--json: the whole statements). Exit 7 when none verifies."""
    from modelpack.api import attesting

    options = client_options(plain_http, insecure, ca_file, verbose)
    result = attesting.verify_attestation(reference, key, type_name, local=local, options=options)
    if as_json:
        print_json({"reference": str(result.reference), "digest": result.digest, "verified": True,
                    "predicateType": result.predicate_type,
                    "attestations": [{"kind": a.kind, "location": a.location, "statement": a.statement}
                                     for a in result.attestations]})
        return
    click.echo(f"verified {clean(result.reference.with_digest(result.digest))}: "
               f"{plural(len(result.attestations), 'valid attestation')} of type {clean(result.predicate_type)}",
               err=True)
    for found in result.attestations:
        print_json(found.predicate)


@click.command()
@click.argument("reference")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Where to write the BOM (- is standard output, the default; with --attach the BOM is written "
              "only where -o says, and one line says what was attached).")
@click.option("--attach", is_flag=True, help="Also sign it and attach it as a cyclonedx attestation (needs --key).")
@click.option("--key", type=RegularFile(), help="Private key (cosign.key) for --attach.")
@click.option("--local", is_flag=True, help="Read (and attach to) the model in the local store.")
@network_options
@handle_errors
def sbom(reference: str, output: str | None, attach: bool, key: str | None, local: bool, plain_http: bool,
         insecure: bool, ca_file: str | None, verbose: bool) -> None:
    """Write a CycloneDX 1.6 ML-BOM of a model: the model with its files and layer digests, its model card
    (architecture, parameters, datasets, metrics), its parent and licenses. Validated against the schema."""
    import json

    from modelpack.api.bom import sbom as build
    from modelpack.errors import UsageError

    if attach and key is None:
        raise UsageError("--attach signs the BOM: give --key cosign.key")
    if key is not None and not attach:
        raise UsageError("--key is for --attach: add --attach, or leave --key out")
    import modelpack.mlbom  # noqa: F401  (the [sbom] extra: a missing one is said before a password is asked)

    options = client_options(plain_http, insecure, ca_file, verbose)
    password = key_password(Path(key)) if key else None
    result = build(reference, key=key, password=password, local=local, options=options)
    text = json.dumps(result.document, indent=2) + "\n"
    pinned = clean(result.reference.with_digest(result.digest))
    if output == "-" or (output is None and not attach):
        click.echo(text, nl=False)
    elif output is not None:
        write_output(output, text.encode("utf-8"))
        click.echo(f"wrote the ML-BOM of {pinned} to {clean(output)}", err=True)
    if result.attestation is not None:
        where = " in the local store" if local else ""
        # The result itself when the BOM is not on standard output (there, the BOM stays all it holds).
        click.echo(f"attached the ML-BOM of {pinned}{where} as attestation "
                   f"{clean(result.attestation.attestation.digest)} ({clean(result.attestation.predicate_type)})",
                   err=output == "-")


COMMANDS = (attest, verify_attestation, sbom)
