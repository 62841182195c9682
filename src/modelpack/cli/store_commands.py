"""`modelpack store check|gc`: the local store's health and space."""

from __future__ import annotations

from typing import ClassVar

import click

from modelpack.cli.common import clean, handle_errors, json_option, plural, print_json
from modelpack.cli.near_miss_group import NearCommands
from modelpack.space import human_size


class _StoreCommands(NearCommands):
    # The help said "verify its blobs", so a newcomer typed `store verify` (click said only "No such command
    # 'verify'."); `store list` and `store prune` are other tools' words.
    other_words: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("verify", "fsck", "validate"), "`modelpack store check` hashes every blob"),
        **dict.fromkeys(("list", "ls"), "`modelpack list` lists the local store's models"),
        **dict.fromkeys(("prune", "clean", "cleanup"), "`modelpack store gc` frees the space of unused blobs"),
    }


@click.group(cls=_StoreCommands)
def store() -> None:
    """Look after the local store: check its blobs against their digests (`store check`), free its space
    (`store gc`)."""


@store.command()
@click.option("--repair", is_flag=True, help="Delete corrupt blobs and make writable ones read-only.")
@json_option
@handle_errors
def check(repair: bool, as_json: bool) -> None:
    """Hash every blob against its digest and name the models that need a re-pull. Exits 6 while
    a problem remains."""
    from modelpack import api
    from modelpack.errors import IntegrityError

    report = api.check_store(repair=repair)
    if as_json:
        print_json({"ok": report.ok, "blobs": report.blobs, "bytes": report.bytes, "corrupt": report.corrupt,
                    "removed": report.removed, "writable": report.writable, "repull": report.repull,
                    "indexError": report.index_error, "indexRepaired": report.index_repaired})
    else:
        if report.index_error and report.index_repaired:
            click.echo("index.json was corrupt: rebuilt from the entries that still read (the old one is "
                       "index.json.corrupt); models it no longer names must be pulled or packed again")
        elif report.index_error:
            click.echo(f"corrupt index: {clean(report.index_error)}")
        click.echo(f"checked {plural(report.blobs, 'blob')} ({human_size(report.bytes)})")
        for digest in report.corrupt:
            click.echo(f"corrupt {digest}" + (" (removed)" if digest in report.removed else ""))
        if report.writable:
            state = "made read-only" if repair else "writable (--repair makes them read-only)"
            click.echo(f"{plural(len(report.writable), 'blob')} {state}")
        for reference, digests in report.repull.items():
            click.echo(f"needs a re-pull: {clean(reference)} ({plural(len(digests), 'blob')} missing or corrupt)")
    if not report.ok:
        repaired = set(report.corrupt) <= set(report.removed) and not (report.index_error and not report.index_repaired)
        hint = "pull the models named above again" if repaired else \
            "run `modelpack store check --repair`, then pull the models named above again"
        raise IntegrityError(f"the local store has problems: {hint}")


@store.command()
@json_option
@handle_errors
def gc(as_json: bool) -> None:
    """Delete blobs no model in the store uses, and what stopped pulls left in ingest/ (downloads a
    later pull would have resumed included)."""
    from modelpack import api

    report = api.gc_store()
    if as_json:
        print_json({"freed": report.freed, "blobs": report.blobs, "blobBytes": report.blob_bytes,
                    "ingestFiles": report.ingest_files, "ingestBytes": report.ingest_bytes, "busy": report.busy})
        return
    click.echo(f"freed {human_size(report.freed)}: {plural(report.blobs, 'unused blob')}, "
               f"{plural(report.ingest_files, 'unfinished download')}")
    if report.busy:
        click.echo("another modelpack process is writing to the store: unused blobs were left for a later gc",
                   err=True)


COMMANDS = (store,)
