"""Entry point: `modelpack COMMAND ...`. Commands import the API lazily so `--version` stays fast."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from modelpack.cli import store_commands
from modelpack.cli.common import (
    clean,
    client_options,
    handle_errors,
    human_size,
    json_option,
    link_force_options,
    network_options,
    plural,
    print_json,
    silence_stdout,
)
from modelpack.cli.file_types import RegularFile
from modelpack.version import __version__

if TYPE_CHECKING:
    from modelpack.api.catalog import Removal
    from modelpack.store.client import ClientOptions


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="modelpack")
def cli() -> None:
    """Pack ML models as CNCF ModelPack OCI artifacts, push them to any OCI registry, and pull any
    version back by tag or digest."""


@cli.command()
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.option("-t", "--tag", "reference", required=True, help="Reference, e.g. localhost:5000/team/iris:1.0.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override metadata, dotted keys allowed (metrics.accuracy=0.97). Repeatable.")
@network_options
@json_option
@handle_errors
def pack(model_dir: str, reference: str, overrides: tuple[str, ...], plain_http: bool, insecure: bool,
         ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Pack MODEL_DIR into the local store; prints the manifest digest. (Network options apply only to
    pinning a parent model that is not in the local store.)"""
    from modelpack import api
    from modelpack.cli.progress import hash_progress

    with hash_progress("hashing", not as_json) as progress:
        result = api.pack(model_dir, reference, overrides, hash_progress=progress,
                          options=client_options(plain_http, insecure, ca_file, verbose))
    if as_json:
        print_json({"reference": str(result.reference), "digest": result.descriptor.digest,
                    "size": result.descriptor.size, "layers": len(result.model.layers)})
    else:
        click.echo(result.descriptor.digest)


@cli.command()
@click.argument("source")
@click.argument("reference", required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Metadata override (with DIR).")
@network_options
@json_option
@handle_errors
def push(source: str, reference: str | None, overrides: tuple[str, ...], plain_http: bool, insecure: bool,
         ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Push a model: `push REF` from the local store, or `push DIR REF` to pack DIR and stream it
    straight to the registry."""
    from modelpack import api
    from modelpack.cli.progress import transfer_progress

    options = client_options(plain_http, insecure, ca_file, verbose)
    if reference is None and overrides:
        raise click.UsageError("--set only applies when pushing a directory (push DIR REF)")
    with transfer_progress("push", not as_json) as copy_options:
        result = api.push(source, reference, overrides, options=options, copy_options=copy_options)
    _report(result, as_json, "pushed")


@cli.command()
@click.argument("reference")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Also restore the files into this "
              "directory (new or empty).")
@click.option("--verify-key", type=RegularFile(),
              help="Public key: verify the model's signature first; nothing is written unless it verifies.")
@link_force_options
@network_options
@json_option
@handle_errors
def pull(reference: str, output: str | None, verify_key: str | None, link: bool, force: bool, plain_http: bool,
         insecure: bool, ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Pull a model by tag or @sha256: digest into the local store, verifying every blob."""
    from modelpack import api
    from modelpack.cli.progress import transfer_progress

    options = client_options(plain_http, insecure, ca_file, verbose)
    if (link or force) and output is None:
        raise click.UsageError("--link and --force apply to the files restored with -o DIR")
    with transfer_progress("pull", not as_json) as copy_options:
        result = api.pull(reference, output=output, options=options, copy_options=copy_options,
                          verify_key=verify_key, link=link, force=force)
    _report(result, as_json, "pulled")


def _change(old: object, new: object) -> str:
    """`0.9 -> 0.95`, or what appeared or went, for one metadata field of a diff."""
    if old is None:
        return f"{clean(repr(new))} (added)"
    if new is None:
        return f"{clean(repr(old))} (removed)"
    return f"{clean(repr(old))} -> {clean(repr(new))}"


def _report(result: object, as_json: bool, verb: str) -> None:
    from modelpack.api import TransferResult

    assert isinstance(result, TransferResult)
    ref = result.reference
    digest_ref = ref.with_digest(result.descriptor.digest)
    if as_json:
        out = {"reference": str(ref), "digest": result.descriptor.digest, "digestReference": str(digest_ref),
               "blobsCopied": result.copied, "blobsSkipped": result.skipped, "bytesCopied": result.bytes}
        if result.output is not None:
            out["output"] = str(result.output)
            out["files"] = result.files
        if result.verified_signatures:
            out["verifiedSignatures"] = result.verified_signatures
        print_json(out)
        return
    if result.verified_signatures:
        click.echo(f"verified {clean(digest_ref)}: {plural(result.verified_signatures, 'valid signature')}",
                   err=True)
    click.echo(f"{verb} {clean(ref)}: {plural(result.copied, 'blob')} ({human_size(result.bytes)}), "
               f"{result.skipped} already present", err=True)
    if result.output is not None:
        click.echo(f"restored {plural(len(result.files), 'file')} into {clean(result.output)}", err=True)
    click.echo(clean(digest_ref))


@cli.command()
@click.argument("reference")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Directory to restore into (new or empty).")
@link_force_options
@handle_errors
def unpack(reference: str, output: str, link: bool, force: bool) -> None:
    """Restore the files of a model in the local store into a directory."""
    from modelpack import api

    files = api.unpack(reference, output, link=link, force=force)
    click.echo(f"restored {plural(len(files), 'file')} into {clean(output)}")


@cli.command(name="list")
@json_option
@handle_errors
def list_command(as_json: bool) -> None:
    """List the models in the local store."""
    from modelpack import api

    models = api.list_models()
    if as_json:
        print_json([{"reference": m.reference, "digest": m.digest, "size": m.size, "created": m.created,
                     "version": m.version, "name": m.name, "artifactType": m.artifact_type,
                     "complete": m.complete} for m in models])
        return
    if not models:
        click.echo("no models in the local store", err=True)
        return
    rows = [(clean(m.reference), clean(m.digest[:19]), human_size(m.size),
             clean(m.created or "-") + ("" if m.complete else "  MISSING CONTENT")) for m in models]
    width = max(len(row[0]) for row in rows)
    click.echo(f"{'REFERENCE':<{width}}  {'DIGEST':<19}  {'SIZE':>10}  CREATED")
    for reference, digest, size, created in rows:
        click.echo(f"{reference:<{width}}  {digest:<19}  {size:>10}  {created}")
    if not all(m.complete for m in models):
        click.echo("some models lost content: `modelpack store check` names it; pull them again", err=True)


@cli.command()
@click.argument("source")
@click.argument("targets", nargs=-1, required=True)
@click.option("--remote", is_flag=True, help="Set the tags in the registry (no blob moves).")
@network_options
@handle_errors
def tag(source: str, targets: tuple[str, ...], remote: bool, plain_http: bool, insecure: bool, ca_file: str | None,
        verbose: bool) -> None:
    """Give a model more references: in the local store, or with --remote in the registry (aliases
    such as prod or champion). Each TARGET is a full reference or a bare tag in SOURCE's repository."""
    from modelpack import api

    if remote:
        desc = api.tag_remote(source, *targets, options=client_options(plain_http, insecure, ca_file, verbose))
    for target in targets:
        if not remote:
            desc = api.tag(source, target)
        click.echo(f"{clean(target)} -> {clean(desc.digest)}")


@cli.command()
@click.argument("reference")
@click.option("--remote", is_flag=True, help="Remove the tag (or the manifest, by digest) from the registry.")
@click.option("--all-tags", is_flag=True, help="With --remote, where the registry can only delete a whole manifest: "
              "delete it even though other tags name it (they go too).")
@click.option("-y", "--yes", is_flag=True, help="With --remote, do not ask before deleting tags not named.")
@network_options
@handle_errors
def rm(reference: str, remote: bool, all_tags: bool, yes: bool, plain_http: bool, insecure: bool,
       ca_file: str | None, verbose: bool) -> None:
    """Remove a reference from the local store (and blobs no other model uses), or with --remote from
    the registry: a tag alone where the registry can, else its manifest when no other tag names it
    (--all-tags to take them too); REPO@sha256:... deletes that manifest and the tags on it."""
    from modelpack import api

    if remote:
        removal = api.remove_remote(reference, all_tags=all_tags, confirm=None if yes else _confirm_removal,
                                    options=client_options(plain_http, insecure, ca_file, verbose))
        if removal.untagged:
            click.echo(f"untagged {clean(removal.reference)}")
        else:
            click.echo(f"deleted {clean(removal.digest)} (tags: {clean(', '.join(removal.tags)) or 'none'})")
        return
    for name in api.remove(reference):
        click.echo(f"removed {clean(name)}")


def _confirm_removal(plan: Removal) -> bool:
    """Ask on a terminal before a deletion takes tags the user did not name; refuse without one."""
    from modelpack.errors import UsageError

    what = clean(f"{plan.reference.name}@{plan.digest} and its tags {', '.join(plan.tags)}")
    if not sys.stdin.isatty():
        raise UsageError(f"deleting {plan.reference} deletes {what}; pass --yes to confirm (no terminal to ask)")
    return click.confirm(f"Delete {what}?", default=False)


@cli.command()
@click.argument("reference")
@network_options
@handle_errors
def resolve(reference: str, plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool) -> None:
    """Print the digest a reference names in its registry."""
    from modelpack import api

    click.echo(clean(api.resolve(reference, options=client_options(plain_http, insecure, ca_file, verbose)).digest))


@cli.command()
@click.argument("repository")
@click.option("--where", "where", multiple=True, metavar="EXPR",
              help="Filter, e.g. 'metrics.accuracy>=0.9', 'labels.stage=prod'. Repeatable (all must hold).")
@click.option("--sort", metavar="KEY", help="Sort by a field; '-' in front for descending, e.g. -metrics.accuracy.")
@network_options
@json_option
@handle_errors
def ls(repository: str, where: tuple[str, ...], sort: str | None, plain_http: bool, insecure: bool,
       ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """List every version of a model in a registry with its digest, version, created time, metrics and
    size (manifests only; cached by digest). `ls HOST` lists the registry's repositories instead."""
    from modelpack import api
    from modelpack.oci.reference import is_registry_host

    if is_registry_host(repository):
        if where or sort:
            raise click.UsageError("--where and --sort apply to a repository's versions, not to `ls HOST`")
        _list_repositories(repository, client_options(plain_http, insecure, ca_file, verbose), as_json)
        return
    if sort is not None and not sort.strip("-+ "):
        raise click.UsageError("--sort needs a field, e.g. metrics.accuracy or -created")
    versions = api.list_versions(repository, where, sort,
                                 options=client_options(plain_http, insecure, ca_file, verbose),
                                 warn=lambda message: click.echo(f"warning: {clean(message)}", err=True))
    if as_json:
        print_json([v.to_json() for v in versions])
        return
    if not versions:
        click.echo("no matching versions", err=True)
        return
    width = max(3, *(len(clean(v.tag)) for v in versions))
    click.echo(f"{'TAG':<{width}}  {'DIGEST':<19}  {'VERSION':<10}  {'CREATED':<20}  {'SIZE':>10}  METRICS")
    for v in versions:
        metrics = ", ".join(f"{k}={val}" for k, val in sorted((v.metadata.get("metrics") or {}).items()))
        version, created = clean(v.metadata.get("version") or "-"), clean(v.metadata.get("created") or "-")
        click.echo(f"{clean(v.tag):<{width}}  {clean(v.digest[:19]):<19}  {version:<10}  "
                   f"{created:<20}  {human_size(v.size):>10}  {clean(metrics or '-')}")


def _list_repositories(registry: str, options: ClientOptions, as_json: bool) -> None:
    from modelpack import api

    found = api.list_repositories(registry, options=options)
    if as_json:
        print_json([r.to_json() for r in found])
        return
    if not found:
        click.echo(f"no repositories in {clean(registry)}", err=True)
        return
    width = max(10, *(len(clean(r.repository)) for r in found))
    click.echo(f"{'REPOSITORY':<{width}}  TAGS")
    for r in found:
        click.echo(f"{clean(r.repository):<{width}}  {'-' if r.tags is None else r.tags}")


@cli.command()
@click.argument("old")
@click.argument("new")
@click.option("--remote", "remote_only", is_flag=True, help="Read both from the registry.")
@network_options
@json_option
@handle_errors
def diff(old: str, new: str, remote_only: bool, plain_http: bool, insecure: bool, ca_file: str | None,
         verbose: bool, as_json: bool) -> None:
    """What changed between two versions: files (by digest and size) and metadata, metrics included."""
    from modelpack import api

    result = api.diff(old, new, remote_only=remote_only,
                      options=client_options(plain_http, insecure, ca_file, verbose))
    if as_json:
        print_json(result.to_json())
        return
    if result.empty:
        click.echo("no differences")
        return
    for item in result.added:
        click.echo(f"+ {clean(item['path'])}  ({human_size(item['size'])})")
    for item in result.removed:
        click.echo(f"- {clean(item['path'])}  ({human_size(item['size'])})")
    for item in result.changed:
        click.echo(f"~ {clean(item['path'])}  {human_size(item['oldSize'])} -> {human_size(item['newSize'])}")
    for key, change in result.metadata.items():
        click.echo(f"  {clean(key)}: {_change(change['old'], change['new'])}")


@cli.command(name="copy")
@click.argument("source")
@click.argument("target")
@click.option("--from-local", is_flag=True, help="SOURCE is in the local store.")
@click.option("--to-local", is_flag=True, help="Copy into the local store.")
@click.option("--no-referrers", is_flag=True, help="Leave signatures and other referrers behind.")
@network_options
@json_option
@handle_errors
def copy_command(source: str, target: str, from_local: bool, to_local: bool, no_referrers: bool, plain_http: bool,
                 insecure: bool, ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Copy a model between registries (or the local store), with its signatures."""
    from modelpack import api
    from modelpack.cli.progress import transfer_progress

    options = client_options(plain_http, insecure, ca_file, verbose)
    with transfer_progress("copy", not as_json) as copy_options:
        result = api.copy_model(source, target, from_local=from_local, to_local=to_local,
                                with_referrers=not no_referrers, options=options, copy_options=copy_options)
    _report(result, as_json, "copied")


@cli.command()
@click.argument("reference")
@click.option("--remote", "remote_only", is_flag=True, help="Read from the registry, not the local store.")
@network_options
@json_option
@handle_errors
def inspect(reference: str, remote_only: bool, plain_http: bool, insecure: bool, ca_file: str | None,
            verbose: bool, as_json: bool) -> None:
    """Show a model's digest, metadata and layers (only the manifest and config are fetched)."""
    from modelpack import api

    options = client_options(plain_http, insecure, ca_file, verbose)
    info = api.inspect(reference, remote_only=remote_only, options=options).to_json()
    if as_json:
        print_json(info)
        return
    click.echo(f"Reference:     {clean(info['reference'])}")
    click.echo(f"Digest:        {clean(info['digest'])}")
    click.echo(f"Artifact type: {clean(info['artifactType'] or '-')}")
    meta = info["metadata"]
    for key, value in meta.items():
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
        click.echo(f"  {clean(key) + ':':<16}{clean(shown)}")
    if info["layers"]:
        click.echo(f"Layers ({len(info['layers'])}, {human_size(info.get('totalSize', 0))}):")
        for layer in info["layers"]:
            click.echo(f"  {clean(layer['digest'][:19])}  {human_size(layer['size']):>10}  "
                       f"{clean(layer['kind'] or '-'):<13}  {clean(layer['path'] or '-')}")


@cli.command()
@click.argument("registry")
@click.option("-u", "--username", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@network_options
@handle_errors
def login(registry: str, username: str, password_stdin: bool, plain_http: bool, insecure: bool,
          ca_file: str | None, verbose: bool) -> None:
    """Log in to a registry; credentials go to the docker config, shared with docker, oras and crane."""
    from modelpack import api

    password = _login_password(password_stdin)
    options = client_options(plain_http, insecure, ca_file, verbose)
    path = api.login(registry, username, password, options=options)
    click.echo(f"Login succeeded (credentials saved in {path})")


def _login_password(password_stdin: bool) -> str:
    """The password from stdin (--password-stdin), else a prompt; a user error when there is neither."""
    from modelpack.errors import UsageError

    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
        if not password:
            raise UsageError("no password on standard input (pipe it in: echo ... | modelpack login --password-stdin)")
        return password
    if not sys.stdin.isatty():  # getpass would warn and read an echoing stream
        raise UsageError("no terminal to ask for the password: pipe it in with --password-stdin")
    return str(click.prompt("Password", hide_input=True))


@cli.command()
@click.argument("registry")
@handle_errors
def logout(registry: str) -> None:
    """Remove the saved credentials for a registry."""
    from modelpack import api

    if api.logout(registry):
        click.echo(f"Removed credentials for {registry}")
    else:
        click.echo(f"Not logged in to {registry}")


@cli.command()
@click.argument("reference")
@network_options
@json_option
@handle_errors
def lineage(reference: str, plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool,
            as_json: bool) -> None:
    """The chain of parent models back to the first ancestor."""
    from modelpack import api
    from modelpack.lineage import MAX_DEPTH

    entries: list[dict] = []
    try:  # the chain known so far is shown even when a later parent cannot be read
        for entry in api.lineage(reference, options=client_options(plain_http, insecure, ca_file, verbose)):
            entries.append(entry)
            if not as_json:
                label = " ".join(str(x) for x in (entry["name"], entry["version"]) if x)
                click.echo(f"{'  ' * (len(entries) - 1)}{'└─ ' if len(entries) > 1 else ''}"
                           f"{clean(entry['reference'])}  {clean(entry['digest'][:19])}  {clean(label)}")
    finally:
        if as_json:
            print_json(entries)
    if len(entries) == MAX_DEPTH and entries[-1]["parent"]:
        click.echo(f"warning: stopped after {MAX_DEPTH} models; the chain goes on at "
                   f"{clean(entries[-1]['parent'])}", err=True)


@cli.command(name="build-image")
@click.argument("model_ref")
@click.option("-t", "--tag", "image", required=True, help="Image reference to push, e.g. registry/team/iris-serve:1.")
@click.option("--base", help="Base image (default: the modelpack serving image; busybox with --modelcar).")
@click.option("--modelcar", is_flag=True, help="KServe modelcar: the base plus /models, no serving entrypoint.")
@click.option("--docker", "use_docker", is_flag=True, help="Build with a Docker engine instead (needs one).")
@network_options
@json_option
@handle_errors
def build_image(model_ref: str, image: str, base: str | None, modelcar: bool, use_docker: bool, plain_http: bool,
                insecure: bool, ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Build a serving image (or a modelcar) from a model and push it, without a Docker engine."""
    from modelpack import api

    if use_docker:
        from modelpack.image.docker_build import build_with_docker

        desc = build_with_docker(model_ref, image, base=base, modelcar=modelcar,
                                 options=client_options(plain_http, insecure, ca_file, verbose))
    else:
        desc = api.build_image(model_ref, image, base=base, modelcar=modelcar,
                               options=client_options(plain_http, insecure, ca_file, verbose))
    ref = api.parse_reference(image)
    if as_json:
        print_json({"image": image, "digest": desc.digest, "pinned": str(ref.with_digest(desc.digest))})
    else:
        click.echo(str(ref.with_digest(desc.digest)))


@cli.command()
@click.argument("reference")
@click.option("--kind", type=click.Choice(["deployment", "kserve", "image-volume"]), default="deployment",
              show_default=True)
@click.option("--serving-image", help="With --kind image-volume: the image that serves /models.")
@click.option("--cpu", default="1", show_default=True)
@click.option("--memory", default="2Gi", show_default=True)
@click.option("--model-format", help="With --kind kserve: KServe's modelFormat (default: the model's framework).")
@network_options
@handle_errors
def k8s(reference: str, kind: str, serving_image: str | None, cpu: str, memory: str, model_format: str | None,
        plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool) -> None:
    """Kubernetes YAML, every image reference pinned by digest: REF is a serving image for `deployment`
    (see build-image), the model artifact for `kserve` and `image-volume`."""
    from modelpack import api

    click.echo(api.kubernetes(reference, kind, serving_image=serving_image, cpu=cpu, memory=memory,
                              model_format=model_format,
                              options=client_options(plain_http, insecure, ca_file, verbose)), nl=False)


@cli.command()
@click.argument("source")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option("--name", help="Model name in the API (default: the model's name).")
@click.option("--verify-key", type=RegularFile(),
              help="Public key: verify REF's signature first and serve exactly the verified digest; a pickle "
              "(.joblib/.pkl) from a registry is loaded only then (or with --trust-unverified-pickle).")
@click.option("--trust-unverified-pickle", is_flag=True,
              help="Load a pickle from REF although its signature was not verified: it runs as code.")
@click.option("--model-file", help="The file to serve, relative to the model directory (when several could be).")
@click.option("--max-connections", default=64, show_default=True, type=click.IntRange(1),
              help="Connections handled at once; more get 503.")
@click.option("--request-timeout", default=30.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="Seconds a client has to send a request's headers and body.")
@click.option("--max-request-size", default="16MiB", show_default=True,
              help="Largest request body (e.g. 64MiB); larger ones get 413 unread.")
@network_options
@handle_errors
def serve(source: str, host: str, port: int, name: str | None, verify_key: str | None,
          trust_unverified_pickle: bool, model_file: str | None, max_connections: int, request_timeout: float,
          max_request_size: str, plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool) -> None:
    """Serve a model directory or reference over the Open Inference Protocol (KServe V2, REST):
    /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/infer.

    ONNX and .skops files are preferred to pickles. A pickle (.joblib/.pkl) runs code when loaded: from a
    directory you name it is loaded as your choice (a directory made by `pull -o` holds a registry's
    content: pull it with --verify-key); from a REF only with --verify-key or --trust-unverified-pickle.
    .skops files load only scikit-learn, numpy and scipy types. Exit 2 when a model is refused.
    SIGTERM or Ctrl-C stops it cleanly (requests in flight finish) with exit 0."""
    from modelpack import api
    from modelpack.serve.lifecycle import configure_logging, run
    from modelpack.serve.limits import ServerLimits, parse_size

    configure_logging()
    limits = ServerLimits(max_connections, request_timeout, parse_size(max_request_size))
    server = api.serve_model(source, host=host, port=port, name=name, verify_key=verify_key,
                             trust_unverified_pickle=trust_unverified_pickle, model_file=model_file,
                             limits=limits, options=client_options(plain_http, insecure, ca_file, verbose))
    run(server, drain_timeout=request_timeout,
        ready=lambda: click.echo(f"serving on http://{host}:{server.server_address[1]}/v2", err=True))


def _password(confirm: bool = False) -> bytes:
    """COSIGN_PASSWORD (as cosign reads it), else a prompt on a terminal."""
    if "COSIGN_PASSWORD" in os.environ:
        return os.environ["COSIGN_PASSWORD"].encode()
    if not sys.stdin.isatty():
        from modelpack.errors import UsageError

        raise UsageError("no password for the private key: set COSIGN_PASSWORD or run on a terminal")
    return click.prompt("Password for the private key", hide_input=True, confirmation_prompt=confirm,
                        default="", show_default=False).encode()


def _annotations(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"-a {item!r}: expected key=value")
        out[key] = value
    return out


@cli.command(name="generate-key-pair")
@click.option("-d", "--directory", default=".", type=click.Path(file_okay=False), show_default=True)
@handle_errors
def generate_key_pair(directory: str) -> None:
    """Write cosign.key (encrypted, cosign's format) and cosign.pub (ECDSA P-256)."""
    from modelpack import api

    private, public = api.generate_key_pair(directory, _password(confirm=True))
    click.echo(f"Private key written to {private}")
    click.echo(f"Public key written to {public}")


@cli.command()
@click.argument("reference")
@click.option("--key", required=True, type=RegularFile(), help="Private key (cosign.key).")
@click.option("-a", "--annotation", "annotations", multiple=True, metavar="KEY=VALUE",
              help="Annotation signed along with the digest. Repeatable.")
@network_options
@json_option
@handle_errors
def sign(reference: str, key: str, annotations: tuple[str, ...], plain_http: bool, insecure: bool,
         ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Sign a model; a tag is resolved to its digest first. Stored where cosign finds it."""
    from modelpack import api

    options = client_options(plain_http, insecure, ca_file, verbose)
    from modelpack.sign.keys import needs_password

    extra = _annotations(annotations)
    password = _password() if needs_password(Path(key)) else None  # asked only after the key file is read
    result = api.sign(reference, key, password, extra, options=options)
    if as_json:
        print_json({"reference": str(result.reference), "digest": result.digest,
                    "signature": result.signature.digest})
    else:
        click.echo(f"signed {clean(result.reference.with_digest(result.digest))} "
                   f"(signature {clean(result.signature.digest)})")


@cli.command()
@click.argument("reference")
@click.option("--key", required=True, type=RegularFile(), help="Public key (cosign.pub).")
@click.option("-a", "--annotation", "annotations", multiple=True, metavar="KEY=VALUE",
              help="Require this signed annotation. Repeatable.")
@network_options
@json_option
@handle_errors
def verify(reference: str, key: str, annotations: tuple[str, ...], plain_http: bool, insecure: bool,
           ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Verify a model's signature (modelpack's or cosign's; bundle or legacy format)."""
    from modelpack import api

    options = client_options(plain_http, insecure, ca_file, verbose)
    result = api.verify(reference, key, _annotations(annotations), options=options)
    if as_json:
        print_json({"reference": str(result.reference), "digest": result.digest, "verified": True,
                    "signatures": [{"kind": s.kind, "location": s.location, "annotations": s.annotations}
                                   for s in result.signatures]})
    else:
        click.echo(f"verified {clean(result.reference.with_digest(result.digest))}: "
                   f"{plural(len(result.signatures), 'valid signature')}")


cli.add_command(store_commands.store)


def main() -> NoReturn:
    # standalone_mode=False so a usage mistake (unknown flag, missing argument) is one line too,
    # instead of click's usage block.
    try:
        code = cli.main(prog_name="modelpack", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        code = 130
    except click.exceptions.NoArgsIsHelpError as exc:  # `modelpack` (or a group) alone: help, not an error
        click.echo(exc.ctx.get_help() if exc.ctx else cli.get_help(click.Context(cli)))
        code = 0
    except click.exceptions.ClickException as exc:
        command = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else "modelpack"
        click.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
        code = exc.exit_code
    except SystemExit as exc:  # a command's `fail()`
        code = exc.code if isinstance(exc.code, int) else 1
    _exit(code if isinstance(code, int) else 0)


def _exit(code: int) -> NoReturn:
    """Exit with `code`; if stdout was a closed pipe (`modelpack ls | head -1`), the output did not all
    arrive: exit non-zero, without Python's "Exception ignored ... BrokenPipeError" at shutdown."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        code = code or 1
        silence_stdout()
    sys.exit(code)


if __name__ == "__main__":
    main()
