"""Commands for credentials and signatures: login, logout, generate-key-pair, sign, verify."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from modelpack import standard_input
from modelpack.cli.common import (
    clean,
    client_options,
    handle_errors,
    json_option,
    network_options,
    plural,
    print_json,
)
from modelpack.cli.file_types import RegularFile

SIGNATURE_FORMATS = ("bundle", "simple-signing", "both")  # api.signing's; that module loads on use only
# A password or token `login --password-stdin` reads: registry tokens are a few KiB (a JWT with its claims).
MAX_PASSWORD_BYTES = 64 * 1024


@click.command()
@click.argument("registry")
@click.option("-u", "--username", required=True, help="User name; the password is asked for (or --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("-p", "--password", "password_given", hidden=True)  # refused with the way to do it (see below)
@network_options
@handle_errors
def login(registry: str, username: str, password_stdin: bool, password_given: str | None, plain_http: bool,
          insecure: bool, ca_file: str | None, verbose: bool) -> None:
    """Log in to a registry (HOST), or to one repository on it (HOST/NS/REPO, used for that repository
    alone). Credentials go to $REGISTRY_AUTH_FILE when set, else to the docker config (shared with docker,
    oras and crane; a repository's to $XDG_RUNTIME_DIR/containers/auth.json, as podman), or where
    registries.conf's credential-helpers say."""
    from modelpack import api

    if password_given is not None:
        _refuse_password_argument()
    password = _login_password(password_stdin)
    options = client_options(plain_http, insecure, ca_file, verbose)
    saved = api.login(registry, username, password, options=options)
    click.echo(f"Login succeeded (credentials saved in {saved})")


def _refuse_password_argument() -> None:
    """`-p PASSWORD`, as docker, podman and oras take it: a password on the command line is kept in the shell's
    history and shown to every user by `ps`, so it is refused with the two ways that keep it out of both."""
    from modelpack.advice import Wording
    from modelpack.errors import UsageError

    fix = ("pipe it in: printf '%s' \"$PASSWORD\" | modelpack login -u USER --password-stdin REGISTRY, "
           "or leave it out to be asked for it")
    raise UsageError("login takes no password on its command line (the shell's history and `ps` would show "
                     "it)", advice=Wording(fix, fix))


def _login_password(password_stdin: bool) -> str:
    """The password from stdin (--password-stdin), else a prompt; a user error when there is neither, or
    when stdin holds more than MAX_PASSWORD_BYTES."""
    from modelpack.errors import UsageError

    if password_stdin:
        password = _stdin_password()
        if not password:
            raise UsageError("no password on standard input (pipe it in: echo ... | modelpack login --password-stdin)")
        return password
    if not standard_input.is_terminal():  # getpass would warn and read an echoing stream
        raise UsageError("no terminal to ask for the password: pipe it in with --password-stdin")
    return str(click.prompt("Password", hide_input=True))


def _stdin_password() -> str:
    """Standard input without its line's end, read up to MAX_PASSWORD_BYTES (and the line's end): an endless
    stream (`yes |`, a FIFO's writer) is not held whole. Decoded as reading the text stream would (the locale's
    encoding and error handler); "" when standard input is closed."""
    from modelpack.errors import UsageError

    data = standard_input.read_bytes(MAX_PASSWORD_BYTES + 3, "the password").rstrip(b"\r\n")
    if not data:
        return ""
    if len(data) > MAX_PASSWORD_BYTES:
        raise UsageError(f"the password on standard input is over {MAX_PASSWORD_BYTES // 1024} KiB: pipe in the "
                         "password (or token) alone")
    try:
        return data.decode(sys.stdin.encoding or "utf-8", sys.stdin.errors or "strict")
    except UnicodeDecodeError:
        raise UsageError(f"the password on standard input is not {sys.stdin.encoding} text") from None


@click.command()
@click.argument("registry")
@handle_errors
def logout(registry: str) -> None:
    """Remove the saved credentials for a registry (HOST), or a repository's own (HOST/NS/REPO)."""
    from modelpack import api

    if api.logout(registry):
        click.echo(f"Removed credentials for {registry}")
    else:
        click.echo(f"Not logged in to {registry}")


def _password(confirm: bool = False) -> bytes:
    """COSIGN_PASSWORD (as cosign reads it), else a prompt on a terminal."""
    if "COSIGN_PASSWORD" in os.environ:
        return os.environ["COSIGN_PASSWORD"].encode()
    if not standard_input.is_terminal():
        from modelpack.errors import UsageError

        raise UsageError("no password for the private key: set COSIGN_PASSWORD or run on a terminal")
    return click.prompt("Password for the private key", hide_input=True, confirmation_prompt=confirm,
                        default="", show_default=False).encode()


def key_password(key: Path) -> bytes | None:
    """The private key's password when it is encrypted (asked only after the key file is read), else None.

    Raises:
        UsageError: encrypted, with no COSIGN_PASSWORD and no terminal to ask on.
    """
    from modelpack.signatures.keys import needs_password

    return _password() if needs_password(key) else None


def _annotations(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"-a {item!r}: expected key=value")
        out[key] = value
    return out


@click.command(name="generate-key-pair")
@click.option("-d", "--directory", default=".", type=click.Path(file_okay=False), show_default=True,
              help="Folder to write cosign.key and cosign.pub into (existing keys are not overwritten).")
@handle_errors
def generate_key_pair(directory: str) -> None:
    """Write cosign.key (encrypted, cosign's format) and cosign.pub (ECDSA P-256)."""
    from modelpack import api

    private, public = api.generate_key_pair(directory, _password(confirm=True))
    click.echo(f"Private key written to {private}")
    click.echo(f"Public key written to {public}")


@click.command()
@click.argument("reference")
@click.option("--key", required=True, type=RegularFile(), help="Private key (cosign.key).")
@click.option("-a", "--annotation", "annotations", multiple=True, metavar="KEY=VALUE",
              help="Annotation signed along with the digest. Repeatable.")
@click.option("--local", is_flag=True, help="Sign the model in the local store (push and copy carry the signature).")
@click.option("--signature-format", "signature_format", type=click.Choice(SIGNATURE_FORMATS), default="bundle",
              show_default=True,
              help="bundle: cosign 3's sigstore bundle. simple-signing: cosign's legacy sha256-<hex>.sig (cosign "
                   "sign --new-bundle-format=false), which podman, CRI-O and a policy.json sigstoreSigned read; "
                   "registry references only. both: the two.")
@network_options
@json_option
@handle_errors
def sign(reference: str, key: str, annotations: tuple[str, ...], local: bool, signature_format: str,
         plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Sign a model (in a registry, the local store with --local, or oci:DIR:TAG); a tag is resolved
    to its digest first. Stored where cosign finds it."""
    from modelpack import api

    options = client_options(plain_http, insecure, ca_file, verbose)
    extra = _annotations(annotations)
    password = key_password(Path(key))
    result = api.sign(reference, key, password, extra, local=local, options=options,
                      signature_format=signature_format)  # type: ignore[arg-type]  # click.Choice checked it
    legacy = result.simple_signing
    if as_json:
        print_json({"reference": str(result.reference), "digest": result.digest,
                    "signature": result.signature.digest,
                    **({"simple_signing": {"manifest": legacy.digest, "identity": result.identity}} if legacy else {})})
        return
    signed = clean(result.reference.with_digest(result.digest))
    if signature_format != "simple-signing":
        click.echo(f"signed {signed} (signature {clean(result.signature.digest)})")
    if legacy is not None:
        click.echo(f"signed {signed} as {clean(result.identity or '')} (simple-signing, "
                   f"tag {clean(result.digest.replace(':', '-'))}.sig)")


@click.command()
@click.argument("reference")
@click.option("--key", required=True, type=RegularFile(), help="Public key (cosign.pub).")
@click.option("-a", "--annotation", "annotations", multiple=True, metavar="KEY=VALUE",
              help="Require this signed annotation. Repeatable.")
@click.option("--local", is_flag=True, help="Verify the model in the local store.")
@network_options
@json_option
@handle_errors
def verify(reference: str, key: str, annotations: tuple[str, ...], local: bool, plain_http: bool, insecure: bool,
           ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Verify a model's signature (modelpack's or cosign's; bundle or legacy format)."""
    from modelpack import api

    options = client_options(plain_http, insecure, ca_file, verbose)
    result = api.verify(reference, key, _annotations(annotations), local=local, options=options)
    if as_json:
        print_json({"reference": str(result.reference), "digest": result.digest, "verified": True,
                    "signatures": [{"kind": s.kind, "location": s.location, "annotations": s.annotations}
                                   for s in result.signatures],
                    "notarySignatures": result.notary_signatures})
    else:
        click.echo(f"verified {clean(result.reference.with_digest(result.digest))}: "
                   f"{plural(len(result.signatures), 'valid signature')}")
        if result.notary_signatures:  # beside ours, and never one of them: said, so no one reads it as checked
            from modelpack.signatures.notary import notary_note

            click.echo(f"note: {notary_note(len(result.notary_signatures))}", err=True)


COMMANDS = (login, logout, generate_key_pair, sign, verify)
