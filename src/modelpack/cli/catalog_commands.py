"""Commands that read and name versions: list, tag, rm, resolve, ls, diff, inspect, lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

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
    warning,
)
from modelpack.cli.escape import PATH_MAX, clean_cell, clean_cut
from modelpack.cli.file_types import RegularFile
from modelpack.space import human_size

if TYPE_CHECKING:
    from modelpack.api.remote_removal import Removal
    from modelpack.store.options import ClientOptions


def _change(old: object, new: object) -> str:
    """`0.9 -> 0.95`, or what appeared or went, for one metadata field of a diff."""
    if old is None:
        return f"{clean_cut(repr(new))} (added)"
    if new is None:
        return f"{clean_cut(repr(old))} (removed)"
    return f"{clean_cut(repr(old))} -> {clean_cut(repr(new))}"


@click.command(name="list")
@json_option
@handle_errors
def list_command(as_json: bool) -> None:
    """List the models in the local store."""
    from modelpack import api

    models = api.list_models()
    if as_json:
        print_json([{"reference": m.reference, "digest": m.digest, "size": m.size, "created": m.created,
                     "version": m.version, "name": m.name, "artifactType": m.artifact_type,
                     "complete": m.complete, "partial": m.partial} for m in models])
        return
    if not models:
        click.echo("no models in the local store", err=True)
        return
    rows = [(clean(m.reference), clean(m.digest[:19]), human_size(m.size),
             _cell(m.created) + _state(m)) for m in models]
    width = max(len(row[0]) for row in rows)
    click.echo(f"{'REFERENCE':<{width}}  {'DIGEST':<19}  {'SIZE':>10}  CREATED")
    for reference, digest, size, created in rows:
        click.echo(f"{reference:<{width}}  {digest:<19}  {size:>10}  {created}")
    if not all(m.complete or m.partial for m in models):
        click.echo("some models lost content: `modelpack store check` names it; pull them again", err=True)


def _state(model: object) -> str:
    """What `list` adds after a model's creation time: nothing when all of it is here."""
    if getattr(model, "partial", False):
        return "  partial (pulled with a selection; a pull without one completes it)"
    return "" if getattr(model, "complete", True) else "  MISSING CONTENT"


@click.command()
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
        click.echo(f"{clean(_tagged(source, target))} -> {clean(desc.digest)}")


def _tagged(source: str, target: str) -> str:
    """The reference a TARGET names: a bare tag in full (`champion` alone would read as a model of its own
    to `rm`, `push` and `pull`, which then find no `champion:latest`)."""
    from modelpack.oci.reference import Reference, is_tag, retarget

    return str(retarget(Reference.parse(source), target)) if is_tag(target) else target


@click.command()
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
    (--all-tags to take them too); REPO@sha256:... deletes that manifest and the tags on it. A deleted
    manifest's signature tags (sha256-<hex>, .sig, .att) go with it."""
    from modelpack import api
    from modelpack.errors import UsageError

    for flag, set_ in (("--all-tags", all_tags), ("--yes", yes)):
        if set_ and not remote:  # locally, rm removes one reference and asks nothing: the flag would do nothing
            raise UsageError(f"{flag} is for --remote: add --remote to remove {reference} from the registry, or "
                             f"leave {flag} out")
    if remote:
        removal = api.remove_remote(reference, all_tags=all_tags, confirm=None if yes else _confirm_removal,
                                    options=client_options(plain_http, insecure, ca_file, verbose))
        if removal.untagged:
            click.echo(f"untagged {clean(removal.reference)}")
        else:
            click.echo(f"deleted {clean(removal.digest)} (tags: {clean(', '.join(removal.tags)) or 'none'})")
            for tag in removal.signatures:
                click.echo(f"deleted signature tag {clean(tag)}")
            for line in removal.kept:
                click.echo(f"note: {clean(line)}", err=True)
        return
    given = api.parse_reference(reference)
    for name in api.remove(given):
        click.echo(f"removed {clean(given.written if name == str(given) else name)}")  # as typed: not champion:latest


def _confirm_removal(plan: Removal) -> bool:
    """Ask on a terminal before a deletion takes tags the user did not name; refuse without one."""
    from modelpack.errors import UsageError

    what = clean(f"{plan.reference.name}@{plan.digest} and its tags {', '.join(plan.tags)}")
    if not standard_input.is_terminal():
        raise UsageError(f"deleting {plan.reference} deletes {what}; pass --yes to confirm (no terminal to ask)")
    from modelpack.cli.ask import confirm

    try:
        return confirm(f"Delete {what}?")
    except (KeyboardInterrupt, EOFError) as exc:  # the prompt left the cursor on its line
        click.echo()
        if isinstance(exc, EOFError):  # Ctrl-D: as a Ctrl-C would
            raise click.Abort from None
        raise


@click.command()
@click.argument("reference")
@network_options
@json_option
@handle_errors
def resolve(reference: str, plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool,
            as_json: bool) -> None:
    """Print the digest a reference names in its registry (with --json also its media type, size and the
    reference pinned by that digest, for scripts that pin deployments)."""
    from modelpack import api
    from modelpack.oci.reference import Reference
    from modelpack.places import parse_place

    place = parse_place(reference)
    desc = api.resolve(place, options=client_options(plain_http, insecure, ca_file, verbose))
    if not as_json:
        click.echo(clean(desc.digest))
        return
    out: dict[str, object] = {"reference": reference, "digest": desc.digest, "mediaType": desc.media_type,
                              "size": desc.size}
    if isinstance(place, Reference):
        out["digestReference"] = str(place.with_digest(desc.digest))
    print_json(out)


@click.command()
@click.argument("repository")
@click.option("--where", "where", multiple=True, metavar="EXPR",
              help="Filter, e.g. 'metrics.accuracy>=0.9', 'labels.stage=prod'. Repeatable (all must hold).")
@click.option("--sort", metavar="KEY", help="Sort by a field; '-' in front for descending, e.g. -metrics.accuracy. "
                                           "Default: newest first (-created).")
@click.option("--key", "keys", multiple=True, type=RegularFile(),
              help="Public key (cosign.pub): a SIGNED column names the keys each version's signature verifies "
                   "with, as `verify` checks it, by file name and fingerprint (-v: path; --json: as given). "
                   "Repeatable.")
@network_options
@json_option
@handle_errors
def ls(repository: str, where: tuple[str, ...], sort: str | None, keys: tuple[str, ...], plain_http: bool,
       insecure: bool, ca_file: str | None, verbose: bool, as_json: bool) -> None:
    """List every version of a model in a registry with its digest, version, created time, metrics and
    size (manifests only; cached by digest). `ls HOST` lists the registry's repositories instead."""
    from modelpack import api
    from modelpack.oci.reference import is_registry_host

    if is_registry_host(repository):
        if where or sort or keys:
            raise click.UsageError("--where, --sort and --key apply to a repository's versions, not to `ls HOST`")
        _list_repositories(repository, client_options(plain_http, insecure, ca_file, verbose), as_json)
        return
    if sort is not None and not sort.strip("-+ "):
        raise click.UsageError("--sort needs a field, e.g. metrics.accuracy or -created")
    versions = api.list_versions(repository, where, sort,
                                 options=client_options(plain_http, insecure, ca_file, verbose),
                                 warn=warning, keys=keys)
    if as_json:
        print_json([v.to_json() for v in versions])
        return
    if not versions:
        click.echo("no matching versions", err=True)
        return
    width = max(3, *(len(clean(v.tag)) for v in versions))
    # Columns as wide as their widest value once escaped (an escape sequence shows as several characters),
    # up to a cap past which a value is cut, saying how much (--json has it whole): rows stay aligned.
    shown = [(_cell(v.metadata.get("version")), _cell(v.metadata.get("created"))) for v in versions]
    v_width = max(10, *(len(version) for version, _ in shown))
    c_width = max(20, *(len(created) for _, created in shown))
    # The keys that verify each version (`-`: none of them), when --key was given: by file name and
    # fingerprint as `report` names them (a full path made the table a page wide); -v: as given.
    named = _key_labels(keys) if keys and not verbose else {}
    signed = [clean(", ".join(named.get(k, k) for k in v.signed_by) or "-") if v.signed_by is not None else None
              for v in versions]
    s_width = max([6, *(len(text) for text in signed if text is not None)])
    signed_head = f"{'SIGNED':<{s_width}}  " if keys else ""
    click.echo(f"{'TAG':<{width}}  {'DIGEST':<19}  {'VERSION':<{v_width}}  {'CREATED':<{c_width}}  {'SIZE':>10}  "
               f"{signed_head}METRICS")
    for v, (version, created), signer in zip(versions, shown, signed, strict=True):
        metrics = ", ".join(f"{k}={val}" for k, val in sorted((v.metadata.get("metrics") or {}).items()))
        click.echo(f"{clean(v.tag):<{width}}  {clean(v.digest[:19]):<19}  {version:<{v_width}}  "
                   f"{created:<{c_width}}  {human_size(v.size):>10}  "
                   f"{f'{signer:<{s_width}}  ' if signer is not None else ''}{clean_cut(metrics or '-')}")


def _key_labels(keys: tuple[str, ...]) -> dict[str, str]:
    """Each key as given -> its file name and fingerprint (`cosign.pub (SHA256:...)`, see `key_label`)."""
    from modelpack.signatures.keys import key_label, load_public_key

    return {key: key_label(Path(key), load_public_key(Path(key))) for key in keys}


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


@click.command()
@click.argument("old")
@click.argument("new")
@click.option("--remote", "remote_only", is_flag=True, help="Read both from the registry.")
@network_options
@json_option
@handle_errors
def diff(old: str, new: str, remote_only: bool, plain_http: bool, insecure: bool, ca_file: str | None,
         verbose: bool, as_json: bool) -> None:
    """What changed between two versions: files (by digest and size) and metadata, metrics included.
    NEW may be a bare tag, in OLD's repository (`diff REG/team/iris:1.0 1.1`). Each is read from the local
    store when it holds that reference, else from the registry (--remote: both from the registry)."""
    from modelpack import api

    result = api.diff(old, new, remote_only=remote_only,
                      options=client_options(plain_http, insecure, ca_file, verbose))
    if as_json:
        print_json(result.to_json())
        return
    if result.from_store and not remote_only:  # a stale local tag gave a diff the registry would not
        sides = " and ".join(f"{clean(side)} ({digest[:19]})" for side, digest in result.from_store)
        click.echo(f"note: {sides} read from the local store; --remote reads the registry's", err=True)
    if result.empty:
        click.echo("no differences")
        return
    for item in result.added:
        click.echo(f"+ {clean_cut(item['path'], PATH_MAX)}  ({human_size(item['size'])})")
    for item in result.removed:
        click.echo(f"- {clean_cut(item['path'], PATH_MAX)}  ({human_size(item['size'])})")
    for item in result.changed:
        click.echo(f"~ {clean_cut(item['path'], PATH_MAX)}  {human_size(item['oldSize'])} -> "
                   f"{human_size(item['newSize'])}")
    for key, change in result.metadata.items():
        click.echo(f"  {clean_cut(key, 80)}: {_change(change['old'], change['new'])}")


@click.command()
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
    info = api.inspect(reference, remote_only=remote_only, options=options)
    absent = [] if remote_only or reference.startswith("oci:") else api.absent_layers(reference)
    if as_json:
        print_json({**info.to_json(), **({"absentLayers": [a.digest for a in absent]} if absent else {})})
        return
    click.echo(f"Reference:     {clean(info.reference)}")
    click.echo(f"Digest:        {clean(info.digest)}")
    if info.source_format == "index":
        click.echo(f"Index of {len(info.entries)} manifest{'s' if len(info.entries) != 1 else ''}"
                   f"{' (' + clean_cut(info.artifact_type) + ')' if info.artifact_type else ''}:")
        for entry in info.entries:
            click.echo(f"  {clean(entry.digest[:19])}  {human_size(entry.size):>10}  "
                       f"{clean_cut(entry.platform or '-'):<14}  {clean_cut(entry.artifact_type or entry.media_type)}")
    else:
        click.echo(f"Artifact type: {clean_cut(info.artifact_type or '-')}")
        click.echo(f"Written by:    {clean(info.source_format)}")
    for key, value in info.metadata.items():
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
        # a key of 16 characters still gets its space; a long value is cut (--json has it whole)
        click.echo(f"  {clean_cut(key, 80) + ':':<16} {clean_cut(shown)}")
    if info.software:  # from labels, said once more as what Annex IV 1(c) asks for
        click.echo(f"  {'software:':<16} {clean_cut(', '.join(info.software))}")
    if info.files:
        click.echo(f"Layers ({len(info.files)}, {human_size(info.total_size)}):")
        for file in info.files:
            click.echo(f"  {clean(file.digest[:19])}  {human_size(file.size):>10}  "
                       f"{clean_cut(file.kind or '-'):<13}  {clean_cut(file.path or '-', PATH_MAX)}"
                       + ("  (absent: not pulled)" if file.digest in {a.digest for a in absent} else ""))
    if absent:
        click.echo(f"Partial: {plural(len(absent), 'layer')} not in the local store (a pull without "
                   "--include/--exclude/--kind fetches them)")
    for disagreement in info.disagreements:
        warning(disagreement.sentence(info.metadata.get(disagreement.field)))
    from modelpack.metadata.mapping import malformed_annotation

    for key in info.malformed:  # as `ls` says it: what the artifact records, left out
        warning(f"{info.reference}: {malformed_annotation(key)}")


@click.command()
@click.argument("reference")
@network_options
@json_option
@handle_errors
def lineage(reference: str, plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool,
            as_json: bool) -> None:
    """The chain of parent models back to the first ancestor."""
    from modelpack import api
    from modelpack.lineage_chain import MAX_DEPTH

    entries: list[dict] = []
    try:  # the chain known so far is shown even when a later parent cannot be read
        for entry in api.lineage(reference, options=client_options(plain_http, insecure, ca_file, verbose)):
            entries.append(entry)
            if not as_json:
                label = " ".join(str(x) for x in (entry["name"], entry["version"]) if x)
                if entry["missing"]:
                    label = "no longer in its registry (deleted): the chain ends here"
                click.echo(f"{'  ' * (len(entries) - 1)}{'└─ ' if len(entries) > 1 else ''}"
                           f"{clean(entry['reference'])}  {clean((entry['digest'] or '-')[:19])}  {clean_cut(label)}")
    finally:
        if as_json:
            print_json(entries)
    if len(entries) == MAX_DEPTH and entries[-1]["parent"]:
        click.echo(f"warning: stopped after {MAX_DEPTH} models; the chain goes on at "
                   f"{clean(entries[-1]['parent'])}", err=True)


def _cell(value: object) -> str:
    """A metadata value for a column of `ls`: escaped, and cut past CELL_MAX characters saying how much."""
    return clean_cell(value) if value else "-"


COMMANDS = (list_command, tag, rm, resolve, ls, diff, inspect, lineage)
