"""`origins.json` in the local store: for each blob digest, the registry repositories (`registry/name`)
known to hold it, newest first, so a push to another repository of that registry can ask it to mount
the blob instead of uploading it.

Entries are written after pulls and pushes, including those whose blobs the store never keeps (`pull -o`, `push
DIR REF`): what is recorded is what a registry holds. An entry is dropped when garbage collection deletes its
blob from the store, or when it is the least recently recorded of more than MAX_BLOBS. Every write is a whole
new file renamed over the old one, so a reader sees the old file or the new, never half of either. Callers hold
the store's index lock.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from pathlib import Path

from modelpack.errors import ModelpackError
from modelpack.files import atomic_write
from modelpack.oci.descriptor import Descriptor
from modelpack.store.layout_files import read_regular

MAX_NAMES = 8  # repositories kept per blob: a mount needs one that still has it
# Blobs kept: the least recently recorded go first. Entries of blobs the store does not hold are only
# dropped this way (gc cannot tell a stale one from a mount hint still good), and every push reads the file.
MAX_BLOBS = 50_000
# Read no further (a FIFO or a link to /dev/zero there, put by anyone, hung or exhausted every push and
# pull): 50,000 blobs of a few repositories each are ~15 MB.
MAX_FILE_BYTES = 64 << 20


def read(path: Path) -> dict[str, list[str]]:
    """Every blob's recorded repositories ({} when the file is absent or damaged: it only saves uploads)."""
    try:
        data = json.loads(read_regular(path, MAX_FILE_BYTES, "the store's origins"))
    except (FileNotFoundError, ValueError, ModelpackError):  # (no regular file, or over the cap: rewritten)
        return {}
    return data if isinstance(data, dict) else {}


def record(path: Path, repository: str, blobs: Iterable[Descriptor]) -> None:
    """Remember that `repository` holds `blobs`, first among each blob's repositories."""
    origins = read(path)
    for blob in blobs:
        old = origins.pop(blob.digest, [])  # re-inserted: the dict's order is the order of recording
        names = [n for n in (old if isinstance(old, list) else []) if n != repository]
        origins[blob.digest] = [repository, *names][:MAX_NAMES]
    if len(origins) > MAX_BLOBS:
        origins = dict(list(origins.items())[-MAX_BLOBS:])
    _write(path, origins)


def drop(path: Path, digests: Collection[str]) -> int:
    """Forget the entries of `digests` (blobs deleted from the store); how many there were. The file is
    not touched when none of them has an entry."""
    origins = read(path)
    gone = [d for d in digests if d in origins]
    if not gone:
        return 0
    for digest in gone:
        del origins[digest]
    _write(path, origins)
    return len(gone)


def _write(path: Path, origins: dict[str, list[str]]) -> None:
    atomic_write(path, json.dumps(origins, separators=(",", ":")).encode())
