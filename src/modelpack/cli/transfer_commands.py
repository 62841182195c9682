"""Commands that move models: pack, push, pull, unpack, copy."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar

import click

from modelpack.cli.common import (
    clean,
    client_options,
    handle_errors,
    json_option,
    layer_selection,
    link_force_options,
    network_options,
    plural,
    print_json,
    selection_options,
    signature_policy_option,
    warning,
    write_output,
)
from modelpack.cli.file_types import RegularFile
from modelpack.space import human_size

if TYPE_CHECKING:
    from modelpack.api import TransferResult
    from modelpack.store.options import ClientOptions

F = TypeVar("F", bound=Callable[..., Any])


def compress_option(func: F) -> F:
    """--compress gzip|zstd: doc, code and dataset layers as compressed tars (files.compress)."""
    return click.option("--compress", type=click.Choice(["gzip", "zstd"]),
                        help="Compress doc, code and dataset layers (as files.compress in modelpack.yaml); "
                             "weights and their config files stay raw.")(func)


def _with_compress(overrides: tuple[str, ...], compress: str | None) -> tuple[str, ...]:
    return (*overrides, f"files.compress={compress}") if compress else overrides


def provenance_options(func: F) -> F:
    """--provenance and --provenance-out FILE: record the SLSA v1 provenance of the pack."""
    func = click.option("--provenance-out", type=click.Path(dir_okay=False),
                        help="Also write the provenance predicate to FILE (implies --provenance).")(func)
    return click.option("--provenance", is_flag=True,
                        help="Record a SLSA v1 provenance predicate for the digest (source, revision, datasets, "
                             "hyperparameters, parent); sign it later with `attest REF --key K --provenance`.")(func)


def _write_provenance(recorded: object, output: str | None) -> None:
    from pathlib import Path


    if not isinstance(recorded, Path):
        return
    if output is None:
        click.echo(f"provenance recorded in {clean(recorded)}", err=True)
    else:
        write_output(output, recorded.read_bytes())
        click.echo(f"provenance written to {clean(output)}", err=True)


@click.command()
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.option("-t", "--tag", "reference", required=True, help="Reference, e.g. localhost:5000/team/iris:1.0.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override metadata, dotted keys allowed (metrics.accuracy=0.97). Repeatable.")
@compress_option
@provenance_options
@network_options
@json_option
@handle_errors
def pack(model_dir: str, reference: str, overrides: tuple[str, ...], compress: str | None, provenance: bool,
         provenance_out: str | None, plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool,
         as_json: bool) -> None:
    """Pack MODEL_DIR into the local store; prints the manifest digest. (Network options apply only to
    pinning a parent model that is not in the local store.)"""
    from modelpack import api
    from modelpack.cli.progress import hash_progress

    overrides = _with_compress(overrides, compress)
    with hash_progress("hashing", not as_json) as progress:
        result = api.pack(model_dir, reference, overrides, hash_progress=progress,
                          options=client_options(plain_http, insecure, ca_file, verbose),
                          provenance=provenance or provenance_out is not None, warn=warning)
    _write_provenance(result.provenance, provenance_out)
    if as_json:
        out = {"reference": str(result.reference), "digest": result.descriptor.digest,
               "size": result.descriptor.size, "layers": len(result.model.layers)}
        if result.provenance is not None:
            out["provenance"] = str(result.provenance)
        print_json(out)
    else:
        click.echo(result.descriptor.digest)


@click.command()
@click.argument("source")
@click.argument("reference", required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Metadata override (with DIR).")
@compress_option
@provenance_options
@click.option("--no-referrers", is_flag=True,
              help="With REF: push the model alone, leaving the store's signatures behind (referrers, and "
                   "cosign's sha256-<hex>.sig/.att/.sbom tags).")
@network_options
@json_option
@handle_errors
def push(source: str, reference: str | None, overrides: tuple[str, ...], compress: str | None, provenance: bool,
         provenance_out: str | None, no_referrers: bool, plain_http: bool, insecure: bool, ca_file: str | None,
         verbose: bool, as_json: bool) -> None:
    """Push a model: `push REF` from the local store, or `push DIR REF` to pack DIR and stream it
    straight to the registry."""
    from modelpack import api
    from modelpack.cli.progress import transfer_progress

    options = client_options(plain_http, insecure, ca_file, verbose)
    if reference is None and (overrides or compress):
        raise click.UsageError("--set and --compress only apply when pushing a directory (push DIR REF)")
    overrides = _with_compress(overrides, compress)
    with transfer_progress("push", not as_json) as copy_options:
        result = api.push(source, reference, overrides, options=options, copy_options=copy_options,
                          provenance=provenance or provenance_out is not None, warn=warning,
                          with_referrers=not no_referrers)
    _write_provenance(result.provenance, provenance_out)
    _report(result, as_json, "pushed")


@click.command()
@click.argument("reference")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Write the model's files into this "
              "directory (new or empty; an existing one with --force) instead of the local store.")
@click.option("--keep", is_flag=True, help="With -o: also keep the model in the local store (the files are "
              "then copies of its blobs).")
@click.option("--verify-key", type=RegularFile(),
              help="Public key: verify the model's signature first; nothing is written unless it verifies.")
@signature_policy_option
@link_force_options
@selection_options
@network_options
@json_option
@handle_errors
def pull(reference: str, output: str | None, keep: bool, verify_key: str | None, signature_policy: str | None,
         link: bool, force: bool, include: tuple[str, ...], exclude: tuple[str, ...], kinds: tuple[str, ...],
         plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Pull a model by tag or @sha256: digest, verifying every blob: into the local store, or with
    -o DIR its files straight into DIR (each byte written once; the store keeps no copy unless --keep),
    with its metadata as DIR/modelpack.yaml. --include/--exclude/--kind fetch only some layers (in the
    store, the model is then partial until a pull without them completes it)."""
    from modelpack import api
    from modelpack.cli.progress import transfer_progress

    options = client_options(plain_http, insecure, ca_file, verbose)
    if (link or force or keep) and output is None:
        raise click.UsageError("--keep, --link and --force apply to the files restored with -o DIR")
    selection = layer_selection(include, exclude, kinds)
    with transfer_progress("pull", not as_json) as copy_options:
        result = api.pull(reference, output=output, options=options, copy_options=copy_options,
                          verify_key=verify_key, link=link, force=force, keep=keep, selection=selection,
                          signature_policy=signature_policy)
    _report(result, as_json, "pulled")


def say_verified(result: object) -> None:
    """On stderr, what vouched for the model pulled (`result`, a TransferResult): signatures verified with
    --verify-key, the signature policy's requirement met; nothing when neither was asked."""
    from modelpack.api import TransferResult

    assert isinstance(result, TransferResult)
    digest_ref = result.reference.with_digest(result.descriptor.digest)
    if result.verified_signatures:
        click.echo(f"verified {clean(digest_ref)}: {plural(result.verified_signatures, 'valid signature')}",
                   err=True)
    if result.policy_verified:
        click.echo(f"verified {clean(digest_ref)}: signed as the signature policy requires", err=True)


def _restored(files: list[str], unchanged: Collection[str], output: object) -> str:
    """The line saying what a pull or unpack wrote: with --force, the files already the model's count apart."""
    line = f"restored {plural(len(files) - len(unchanged), 'file')} into {clean(str(output))}"
    return f"{line} ({len(unchanged)} already the model's, left as they were)" if unchanged else line


def _transfer_json(result: TransferResult) -> dict[str, object]:
    """What `--json` says of one transfer."""
    ref = result.reference
    out: dict[str, object] = {"reference": str(ref), "digest": result.descriptor.digest,
                              "digestReference": str(ref.with_digest(result.descriptor.digest)),
                              "blobsCopied": result.copied, "blobsSkipped": result.skipped,
                              "bytesCopied": result.bytes, "blobsMounted": result.mounted}
    if result.output is not None:
        out["output"] = str(result.output)
        out["files"] = result.files
        out["unchanged"] = result.unchanged
    if result.verified_signatures:
        out["verifiedSignatures"] = result.verified_signatures
    if result.policy_verified:
        out["signaturePolicyVerified"] = True
    if result.provenance is not None:
        out["provenance"] = str(result.provenance)
    if result.signature_tags:
        out["signatureTags"] = result.signature_tags
    if result.referrers:
        out["referrers"] = result.referrers
    if result.from_store:
        out["fromLocalStore"] = True
    if result.replaced:
        out["replaced"] = result.replaced
    if not result.written:
        out["written"] = False
    return out


def _report(result: object, as_json: bool, verb: str) -> None:
    from modelpack.api import TransferResult

    assert isinstance(result, TransferResult)
    ref = result.reference
    digest_ref = ref.with_digest(result.descriptor.digest)
    if as_json:
        print_json(_transfer_json(result))
        return
    say_verified(result)
    if result.from_store:  # the registry was down: nothing pulled (the warning said so)
        if result.output is not None:
            click.echo(_restored(result.files, result.unchanged, result.output), err=True)
        else:
            click.echo(clean(digest_ref))  # as a pull into the store prints it
        return
    mounted = f"; {result.mounted} mounted from another repository, not sent" if result.mounted else ""
    if _nothing_written(result, verb):  # "pushed" was untrue, and to a pull-through cache misleading
        click.echo(f"nothing written to {clean(ref)}: its tag names this model already ({result.skipped} blobs "
                   "present)", err=True)
    else:
        click.echo(f"{verb} {clean(ref)}: {plural(result.copied, 'blob')} ({human_size(result.bytes)}{mounted}), "
                   f"{result.skipped} already present", err=True)
    if result.output is not None:
        click.echo(_restored(result.files, result.unchanged, result.output), err=True)
    if result.replaced:  # a version tag pushed over (a signed 1.0.0 replaced) was said by nothing
        click.echo(f"moved tag {clean(ref.tag or '')} from {clean(ref.with_digest(result.replaced))}, which stays "
                   "in the registry by that digest", err=True)
    if result.referrers:  # else a copy made to carry a signature said nothing of it ("0 blobs")
        click.echo(f"carried {plural(result.referrers, 'referrer')} of the model (its signatures and "
                   "attestations)", err=True)
    if result.signature_tags.get("copied"):
        carried = result.signature_tags["copied"]
        kinds = ", ".join(sorted({"." + tag.rsplit(".", 1)[-1] for tag in carried}))
        click.echo(f"carried {plural(len(carried), 'cosign signature tag')} ({clean(kinds)})", err=True)
    click.echo(clean(digest_ref))


def _nothing_written(result: TransferResult, verb: str) -> bool:
    """Whether a push or copy wrote nothing to the registry: REF's tag named the model already (a
    pull-through cache answers so for what its origin has), and no signature or referrer was carried."""
    return verb in ("pushed", "copied") and not result.written and not result.referrers \
        and not result.signature_tags.get("copied")


@click.command()
@click.argument("reference")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Directory to restore into (new or empty; an existing one with --force).")
@link_force_options
@selection_options
@handle_errors
def unpack(reference: str, output: str, link: bool, force: bool, include: tuple[str, ...], exclude: tuple[str, ...],
           kinds: tuple[str, ...]) -> None:
    """Restore the files of a model in the local store into a directory, with its metadata as
    modelpack.yaml; --include/--exclude/--kind restore only some layers."""
    from modelpack import api

    files = api.unpack(reference, output, link=link, force=force,
                       selection=layer_selection(include, exclude, kinds))
    click.echo(_restored(files, getattr(files, "unchanged", ()), output))


@click.command()
@click.argument("reference")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-t", "--tag", "target", required=True,
              help="The new version: a full reference, or a bare tag in REFERENCE's repository.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Metadata change (version=1.1).")
@network_options
@json_option
@handle_errors
def attach(reference: str, files: tuple[str, ...], target: str, overrides: tuple[str, ...], plain_http: bool,
           insecure: bool, ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Add FILES (paths inside the current directory, which become their layer paths) to the version
    REFERENCE as a new version -t TARGET, uploading only the new blobs; its parent is REFERENCE's digest."""
    from modelpack import api
    from modelpack.cli.progress import transfer_progress

    options = client_options(plain_http, insecure, ca_file, verbose)
    with transfer_progress("push", not as_json) as copy_options:
        result = api.attach(reference, list(files), target, overrides, options=options, copy_options=copy_options)
    _report(result, as_json, "attached: pushed")


@click.command(name="copy")
@click.argument("source")
@click.argument("target")
@click.option("--from-local", is_flag=True, help="SOURCE is in the local store.")
@click.option("--to-local", is_flag=True, help="Copy into the local store.")
@click.option("--no-referrers", is_flag=True,
              help="Leave signatures behind: referrers, and cosign's sha256-<hex>.sig/.att/.sbom tags.")
@click.option("--all-tags", is_flag=True,
              help="Every tag of the SOURCE repository (or oci:DIR) into the TARGET repository (or oci:DIR).")
@network_options
@json_option
@handle_errors
def copy_command(source: str, target: str, from_local: bool, to_local: bool, no_referrers: bool, all_tags: bool,
                 plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """Copy a model between registries (or the local store), with its signatures."""
    from modelpack import api
    from modelpack.cli.progress import transfer_progress

    options = client_options(plain_http, insecure, ca_file, verbose)
    if all_tags:
        if from_local or to_local:
            raise click.UsageError("--all-tags copies between registries and oci: layouts, not the local store")
        _copy_all_tags(source, target, not no_referrers, options, as_json)
        return
    with transfer_progress("copy", not as_json) as copy_options:
        result = api.copy_model(source, target, from_local=from_local, to_local=to_local,
                                with_referrers=not no_referrers, options=options, copy_options=copy_options,
                                warn=warning)
    _report(result, as_json, "copied")


def _copy_all_tags(source: str, target: str, with_referrers: bool, options: ClientOptions, as_json: bool) -> None:
    """`copy --all-tags`: each tag said as it is copied (`--json`: listed at the end, and on a failure
    part-way, the tags copied before it, which stay)."""
    from modelpack import api
    from modelpack.cli.progress import transfer_progress

    done: list[TransferResult] = []
    untagged = 0  # signed models no tag names, copied by digest

    def copied(name: str, result: TransferResult) -> None:
        nonlocal untagged
        done.append(result)
        untagged += name.startswith(("sha256:", "sha512:"))
        if not as_json:
            _report(result, False, "copied")

    try:
        with transfer_progress("copy", not as_json) as copy_options:
            results = api.copy_all_tags(source, target, with_referrers=with_referrers, options=options,
                                        copy_options=copy_options, warn=warning, copied=copied)
    except Exception:
        if as_json and done:  # a failure part-way: the tags copied before it (they stay) are listed too
            print_json([_transfer_json(result) for result in done])
        raise
    if as_json:
        print_json([_transfer_json(result) for result in results])
    else:
        also = f" and {plural(untagged, 'signed untagged model')}" if untagged else ""
        click.echo(f"copied {plural(len(results) - untagged, 'tag')}{also} of {clean(source)} to {clean(target)}",
                   err=True)


COMMANDS = (pack, push, pull, unpack, attach, copy_command)
