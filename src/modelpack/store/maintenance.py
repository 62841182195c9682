"""Keeping the local store sound: garbage collection (unreferenced blobs, ingest leftovers) and a check
that hashes every blob, drops corrupt ones and says which models need a re-pull.

Safe next to other processes using the store:
- a blob is written into `ingest/` by a process holding an exclusive lock on that very file, so a
  leftover is a file nobody holds (its writer was killed): those, and only those, are removed;
- every copy into the store holds a shared "lease" (`LayoutStore.writing`) from its first blob until
  its reference is in the index; unreferenced blobs are removed only while no lease is held, so the
  blobs of a pull still in flight (not referenced yet) are never taken.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.errors import IntegrityError, NotFoundError
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest, parse_manifest
from modelpack.store.index_file import CorruptIndexError
from modelpack.store.resumable_ingest import sweep_kept

if TYPE_CHECKING:
    from modelpack.store.index_file import StoreEntry
    from modelpack.store.layout import LayoutStore


@dataclass
class GcReport:
    ingest_files: int = 0  # leftovers of killed transfers removed from ingest/
    ingest_bytes: int = 0
    blobs: int = 0  # unreferenced blobs removed
    blob_bytes: int = 0
    busy: bool = False  # another process was writing to the store: unreferenced blobs were left for later

    @property
    def freed(self) -> int:
        return self.ingest_bytes + self.blob_bytes


@dataclass
class CheckReport:
    blobs: int = 0  # blob files hashed
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)  # content does not match its name
    removed: list[str] = field(default_factory=list)  # corrupt blobs deleted (with repair)
    writable: list[str] = field(default_factory=list)  # blobs not read-only (made read-only with repair)
    repull: dict[str, list[str]] = field(default_factory=dict)  # reference -> its missing or corrupt blobs
    index_error: str | None = None  # index.json is corrupt (with repair: it was, and was rebuilt)
    index_repaired: bool = False

    @property
    def ok(self) -> bool:
        """No problem remains: every blob sound, every model whole, the index readable."""
        return (not (set(self.corrupt) - set(self.removed)) and not self.repull
                and (self.index_error is None or self.index_repaired))


def sweep_ingest(store: LayoutStore, keep: Collection[str] = ()) -> tuple[int, int]:
    """Remove the files in ingest/ that no live process is writing, but those named in `keep` (a stopped
    download the caller is about to resume); (count, bytes) removed."""
    return sweep_kept(store.ingest_dir, keep)


def live_digests(store: LayoutStore, entries: Iterable[StoreEntry]) -> set[str]:
    """Every digest reachable from the index entries (each node visited once)."""
    live: set[str] = set()
    stack = [e.descriptor for e in entries]
    while stack:
        desc = stack.pop()
        if desc.digest in live:
            continue
        live.add(desc.digest)
        stack.extend(_children(store, desc))
    return live


def _children(store: LayoutStore, desc: Descriptor) -> list[Descriptor]:
    if desc.media_type not in mt.MANIFEST_TYPES or not store.has_blob(desc):
        return []
    node = parse_manifest(store.read_blob_bytes(desc))
    if isinstance(node, Manifest):
        return [node.config, *node.layers, *([node.subject] if node.subject else [])]
    return list(node.manifests)


def collect_garbage(store: LayoutStore, entries: list[StoreEntry]) -> GcReport:
    """Remove blobs no entry reaches, unless a copy into the store is under way, and their entries in
    `origins.json`. The caller holds the index lock, so `entries` is current."""
    report = GcReport()
    with store.exclusive_lease() as free:
        if not free:
            report.busy = True
            return report
        live = live_digests(store, entries)
        removed: list[str] = []
        for digest, path in _blob_files(store):
            if digest not in live:
                with contextlib.suppress(FileNotFoundError):
                    size = path.stat().st_size
                    path.unlink()
                    report.blobs, report.blob_bytes = report.blobs + 1, report.blob_bytes + size
                    removed.append(digest)
        store.forget_origins(removed)  # else origins.json only ever grows
    return report


def check(store: LayoutStore, repair: bool = False) -> CheckReport:
    """Hash every blob against its name; find the references whose blobs are missing or corrupt.
    With `repair`, delete corrupt blobs and make writable ones read-only (copying a blob first when
    an old hard-linked output shares it, so the output keeps its mode and the store its own bytes)."""
    report = CheckReport()
    if repair:
        report.index_error = store.repair_index()
        report.index_repaired = report.index_error is not None
    for digest, path in _blob_files(store):
        st = None
        try:
            st = path.lstat()
            with open(path, "rb", buffering=0) as f:
                digests.verify_stream(f, digest)
        except FileNotFoundError:
            continue
        except (IntegrityError, OSError):
            # counted as hashed too: `blobs` and `bytes` are every blob file checked, sound or not
            report.blobs, report.bytes = report.blobs + 1, report.bytes + (st.st_size if st else 0)
            report.corrupt.append(digest)
            if repair and st is not None:  # (a file that cannot even be stat'ed cannot be removed either)
                _remove_if_unchanged(path, st)
                report.removed.append(digest)
            continue
        report.blobs, report.bytes = report.blobs + 1, report.bytes + st.st_size
        if st.st_mode & 0o222 or not stat.S_ISREG(st.st_mode):
            report.writable.append(digest)
            if repair:
                _make_read_only(store, path, st)
    bad = set(report.corrupt)
    # The index is read after the (long) hashing, and walked under a lease that keeps garbage collection
    # off: a model another process removed meanwhile (`rm`) is not reported as missing its blobs.
    with store.reading():
        try:
            entries = store.entries()
        except CorruptIndexError as exc:
            report.index_error, entries = str(exc), []
        for entry in entries:
            broken = sorted(_broken_blobs(store, entry.descriptor, bad, entry.partial))
            if broken:
                report.repull[entry.reference] = broken
    return report


def _broken_blobs(store: LayoutStore, root: Descriptor, bad: set[str], partial: bool = False) -> set[str]:
    """The corrupt or missing blobs under `root`; of a `partial` model, layers it lacks are not broken."""
    broken: set[str] = set()
    seen: set[str] = set()
    optional: set[str] = set()  # layers a partial pull may have left out
    stack = [root]
    while stack:
        desc = stack.pop()
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        if desc.digest in bad or not store.has_blob(desc):
            if desc.digest in bad or desc.digest not in optional:
                broken.add(desc.digest)
            continue
        try:
            children = _children(store, desc)
        except (IntegrityError, NotFoundError, ValueError):
            broken.add(desc.digest)
            continue
        if partial and desc.media_type in mt.MANIFEST_TYPES and children:
            optional.update(c.digest for c in children[1:] if c.media_type not in mt.MANIFEST_TYPES)
        stack.extend(children)
    return broken


def _blob_files(store: LayoutStore) -> Iterator[tuple[str, Path]]:
    """(digest, path) of every file under blobs/; a file whose name is no digest gets one that matches
    nothing, so it counts as corrupt (and unreferenced)."""
    for alg_dir in _listdir(store.blobs):
        for path in _listdir(alg_dir):
            name = f"{alg_dir.name}:{path.name}"
            yield (name if digests.is_digest(name) else "sha256:" + "0" * 64), path


def _listdir(path: Path) -> list[Path]:
    try:
        return sorted(path.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _remove_if_unchanged(path: Path, st: os.stat_result) -> None:
    with contextlib.suppress(FileNotFoundError):
        now = path.lstat()
        if (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns):  # not replaced by a fresh pull
            path.unlink()


def _make_read_only(store: LayoutStore, path: Path, st: os.stat_result) -> None:
    if st.st_nlink > 1:  # shared with a file outside the store: give the store its own copy
        from modelpack.filecopy import copy_fd

        with store.ingest_into(path.name[:16], path) as fd, os.fdopen(fd, "wb", buffering=0) as copy, \
                open(path, "rb", buffering=0) as src:
            copy_fd(src.fileno(), copy.fileno())
        return
    os.chmod(path, 0o444)
