"""The local store's `index.json`: references to manifests, read strictly and rewritten whole.

A damaged index (a crash of another tool, a hand edit) must not surface as a traceback in every command
that reads the store: it is reported once, as CorruptIndexError naming the file and `store check --repair`,
which keeps every entry that still reads and sets the damaged file aside.

It is read as an `oci:` layout's is (see `layout_files`): only a regular file, and no more than
MAX_STORE_INDEX_BYTES. Ours, but on a disk where a user or another program can put anything: a FIFO there
hung every command that reads the store, a symlink to /dev/zero ended it in MemoryError.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelpack import advice
from modelpack.errors import IntegrityError, UsageError
from modelpack.files import atomic_write
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor
from modelpack.store.layout_files import read_regular
from modelpack.store.layout_index_view import MAX_LAYOUT_INDEX_BYTES


class CorruptIndexError(IntegrityError):
    """The local store's index.json cannot be read (exit 6)."""


# On an index.json entry: the model was pulled in part (--include/--exclude/--kind), so layers it lacks
# are absent by choice, not lost (`list` says partial, `store check` does not ask for a re-pull).
A_PARTIAL = "io.modelpack.store.partial"
# As an `oci:` layout's: ~115,000 references (an entry is ~280 bytes). Written no larger (see `index_bytes`).
MAX_STORE_INDEX_BYTES = MAX_LAYOUT_INDEX_BYTES


@dataclass(frozen=True)
class StoreEntry:
    reference: str  # registry/repository:tag or registry/repository@digest
    descriptor: Descriptor

    @property
    def partial(self) -> bool:
        return self.descriptor.annotation(A_PARTIAL) == "true"


def parse_index(data: bytes, path: Path) -> list[StoreEntry]:
    """The entries of an index.json, each naming its reference.

    Raises:
        CorruptIndexError: not JSON, not an index, or an entry that is no valid descriptor.
    """
    try:
        raw = json.loads(data)
        manifests = raw.get("manifests", []) if isinstance(raw, dict) else None
        if not isinstance(manifests, list):
            raise ValueError("'manifests' is not a list" if isinstance(raw, dict) else "not a JSON object")
        return [entry for n, item in enumerate(manifests) if (entry := _entry(item, f"manifests[{n}]"))]
    except (ValueError, RecursionError) as exc:
        raise CorruptIndexError(f"the local store's index {path} is corrupt ({exc})",
                                advice=advice.repair_store("to keep what still reads")) from None


def read_index_file(path: Path) -> bytes:
    """index.json's bytes, if it is a regular file of at most MAX_STORE_INDEX_BYTES.

    Raises:
        FileNotFoundError: there is none.
        UsageError: it is a directory.
        CorruptIndexError: it is a FIFO, a device or a socket (also through a symlink), or over the cap.
    """
    try:
        return read_regular(path, MAX_STORE_INDEX_BYTES, "the local store's index")
    except IntegrityError as exc:
        raise CorruptIndexError(str(exc), advice=advice.repair_store("to set it aside")) from None


def salvage_index(data: bytes) -> list[StoreEntry]:
    """The entries of a damaged index.json that still read; none if it is not JSON at all."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):
        return []
    manifests = raw.get("manifests") if isinstance(raw, dict) else None
    kept = []
    for item in manifests if isinstance(manifests, list) else []:
        try:
            if entry := _entry(item, "entry"):
                kept.append(entry)
        except ValueError:
            continue
    return kept


def repair_index_file(path: Path) -> str | None:
    """Replace a corrupt index.json by the entries that still read, keeping the damaged file beside it
    as index.json.corrupt. The caller holds the index lock.

    Returns:
        Why it was corrupt, or None when it was sound (or absent) and left alone.
    """
    aside = path.with_name(path.name + ".corrupt")
    try:
        data = read_index_file(path)
    except FileNotFoundError:
        return None
    except CorruptIndexError as exc:  # no file to read (a FIFO, a device) or too large: set aside as it is
        os.replace(path, aside)
        atomic_write(path, index_bytes([]))
        return str(exc)
    try:
        parse_index(data, path)
        return None
    except CorruptIndexError as exc:
        atomic_write(aside, data)
        atomic_write(path, index_bytes(salvage_index(data)))
        return str(exc)


def require_folder(root: Path) -> None:
    """Refuse a store root that exists but is not a folder, in one line naming where it came from.

    Raises:
        UsageError: MODELPACK_HOME (or the default store path) is a file.
    """
    if root.exists() and not root.is_dir():
        named = "MODELPACK_HOME" if os.environ.get("MODELPACK_HOME") else "the local store"
        raise UsageError(f"{named} ({root}) is not a directory: point MODELPACK_HOME at a folder")


def index_bytes(entries: list[StoreEntry]) -> bytes:
    """index.json for `entries`, sorted by reference, each naming it in `org.opencontainers.image.ref.name`.

    Raises:
        UsageError: it would be over MAX_STORE_INDEX_BYTES, so that no read could take it.
    """
    manifests = []
    for entry in sorted(entries, key=lambda e: e.reference):
        annotations = dict(entry.descriptor.annotations or {})
        annotations[mt.A_REF_NAME] = entry.reference
        manifests.append(entry.descriptor.replace(annotations=annotations).to_json())
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
    data = json.dumps(index, indent=2).encode() + b"\n"
    if len(data) > MAX_STORE_INDEX_BYTES:
        raise UsageError(f"the local store's index would hold {len(entries)} references, over the "
                         f"{MAX_STORE_INDEX_BYTES} byte limit for reading it: remove some (modelpack rm)")
    return data


def _entry(item: Any, where: str) -> StoreEntry | None:
    desc = Descriptor.from_json(item, where)
    ref = desc.annotation(mt.A_REF_NAME)
    return StoreEntry(ref, desc) if ref else None


def is_fallback_tag(reference: str) -> bool:
    """`name:sha256-<hex>` (and cosign's `.sig`/`.att`): where referrers are listed without the API."""
    tag = reference.rpartition(":")[2]
    base = tag.removesuffix(".sig").removesuffix(".att")
    alg, _, hexd = base.partition("-")
    return alg == "sha256" and len(hexd) == 64 and all(c in "0123456789abcdef" for c in hexd)
