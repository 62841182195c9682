"""The local store: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`).

Blobs are written to `ingest/` while their digest is checked, then renamed into place read-only, so a
crash or a corrupt download never leaves bad content under a digest's name. `index.json` maps full
references (`registry/repository:tag`) to manifests and is rewritten atomically under a file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from modelpack.errors import IntegrityError, NotFoundError
from modelpack.files import atomic_write
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Descriptor, Index, json_bytes, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.space import require_space
from modelpack.store import ingest_files
from modelpack.store import origins as origin_file
from modelpack.store.fetch_lock import fetching
from modelpack.store.index_file import (
    A_PARTIAL,
    StoreEntry,
    index_bytes,
    parse_index,
    read_index_file,
    repair_index_file,
    require_folder,
)
from modelpack.store.index_removal import entries_removed
from modelpack.store.layout_files import open_regular
from modelpack.store.layout_repository import LayoutRepository
from modelpack.store.maintenance import GcReport, collect_garbage, sweep_ingest
from modelpack.store.missing_name import not_in_store
from modelpack.store.options import default_timeout
from modelpack.store.receive import Receiver
from modelpack.store.resumable_ingest import ingest_resumable, kept_downloads, partial_name, resumable
from modelpack.store.target import Opener, Progress, read_small
from modelpack.streams import ByteStream, file_changed


def default_home() -> Path:
    if home := os.environ.get("MODELPACK_HOME"):
        return Path(home).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "modelpack"


class LayoutStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_home()).expanduser()
        self.blobs = self.root / "blobs"
        self._blobs_text = str(self.blobs)
        self.ingest_dir = self.root / "ingest"
        self._index = self.root / "index.json"
        self._lock = self.root / ".index.lock"
        self._lease = self.root / ".gc.lock"  # shared while copies into the store run, exclusive for GC
        self._origins = self.root / "origins.json"
        # Digests whose file this process has hashed (on ingest or on use): safe to hand out unread.
        self.verified: set[str] = set()
        self._state_lock = threading.Lock()  # guards `verified`
        self._cancelled = threading.Event()  # a transfer is being abandoned: stop waiting for other processes
        self._receiver = Receiver(self._cancelled)  # ... and stop copying a model's file in (pack)
        self.arrived: set[str] = set()  # blobs another process stored while this one waited to fetch them
        self.where = "the local store"  # what a missing blob is said to be missing from (OciLayout: the layout)

    # -- layout ---------------------------------------------------------------------------------
    def _ensure(self) -> None:
        if (self.root / "oci-layout").exists():
            return
        self._check_root()
        self.ingest_dir.mkdir(parents=True, exist_ok=True)
        (self.blobs / "sha256").mkdir(parents=True, exist_ok=True)
        atomic_write(self.root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')

    # -- blobs ----------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        alg, hexd = digests.hex_part(digest)
        return self.blobs / alg / hexd

    def has_blob(self, desc: Descriptor) -> bool:
        alg, hexd = digests.hex_part(desc.digest)
        try:  # a str path: a pull into a directory asks this once per blob, and Path joins cost more than the stat
            return os.stat(f"{self._blobs_text}/{alg}/{hexd}").st_size == desc.size
        except FileNotFoundError:
            return False

    def open_blob(self, desc: Descriptor) -> ByteStream:
        try:  # (a FIFO or device planted under a blob's name is refused, not waited on or read forever)
            return open_regular(self.blob_path(desc.digest), "blob")
        except FileNotFoundError:
            raise NotFoundError(f"blob {desc.digest} is not in {self.where}") from None

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = (), patience: float | None = None) -> None:
        """Fetch the blob into the store unless it is there. `patience`: seconds another process
        fetching it may make no progress before this one fetches it too (default MODELPACK_TIMEOUT's)."""
        if self.has_blob(desc):
            return
        self._ensure()
        wait = default_timeout() if patience is None else patience
        with fetching(self.ingest_dir, desc.digest, self._cancelled, wait) as held:  # another pull may be at it
            if self.has_blob(desc):
                self.arrived.add(desc.digest)
                return
            if held and resumable(opener, desc):  # (a stuck holder's partial download is left to it)
                with self._receiving(desc) as final:
                    ingest_resumable(self._receiver, self.ingest_dir, final, desc, opener, progress)
                return
            with opener() as source:
                try:
                    self.ingest(desc, source, progress)
                except IntegrityError:  # a model file rewritten since it was hashed (pack, push DIR oci:): named
                    torn = file_changed(source)
                    if torn is None:
                        raise
                    raise torn from None

    def cancel(self) -> None:
        """Stop waiting for another process's download (the transfer is being abandoned)."""
        self._cancelled.set()

    def resume(self) -> None:
        """Wait again for other processes' downloads, once the abandoned transfer has ended."""
        self._cancelled.clear()

    def verified_path(self, desc: Descriptor) -> Path | None:
        """The blob's file, verified, for an output file to be copied (or hard-linked) from (see unpacking)."""
        self.verify_blob(desc)
        return self.blob_path(desc.digest)

    def verify_blob(self, desc: Descriptor) -> None:
        """Hash a stored blob before it is used unread (linked out); a corrupt one is deleted, so the
        next pull fetches it again, and IntegrityError is raised."""
        if desc.digest in self.verified:
            return
        try:
            with self.open_blob(desc) as f:
                digests.verify_stream(f, desc.digest, desc.size)
        except IntegrityError:
            self.blob_path(desc.digest).unlink(missing_ok=True)
            raise IntegrityError(f"local store blob {desc.digest} was corrupt (its bytes no longer match its "
                                 "digest) and has been removed: pull (or pack) the model again") from None
        with self._state_lock:
            self.verified.add(desc.digest)

    def ingest(self, desc: Descriptor, source: ByteStream, progress: Progress | None = None) -> Path:
        """Copy `source` into the store, verifying size and digest before it gets its name."""
        with self._receiving(desc) as final, \
                ingest_files.ingest_into(self.ingest_dir, desc.digest.split(":")[1][:16], final) as fd:
            self._receiver.receive(desc, source, fd, progress)  # (which closes `fd`)
        return final

    @contextlib.contextmanager
    def _receiving(self, desc: Descriptor) -> Iterator[Path]:
        """The blob's final path (folder made) for the block to put it at; then it counts as verified."""
        self._ensure()
        final = self.blob_path(desc.digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        yield final
        with self._state_lock:
            self.verified.add(desc.digest)

    def open_ingest(self, prefix: str) -> tuple[int, str]:
        """A new file in ingest/ (fd, path), locked for as long as the fd is open: `store gc` removes
        only ingest files nobody holds (see maintenance)."""
        self._ensure()
        return ingest_files.open_ingest(self.ingest_dir, prefix)

    def ingest_into(self, prefix: str, final: Path) -> contextlib.AbstractContextManager[int]:
        """A new ingest file's fd for a `with` block to fill and close; named `final`, read-only, when
        the block ends, or removed if it raised (see `ingest_files.ingest_into`)."""
        self._ensure()
        return ingest_files.ingest_into(self.ingest_dir, prefix, final)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Held while a copy into the store runs, from its first blob until the index names it: blobs
        not yet referenced are then safe from garbage collection (which needs the lease exclusively)."""
        self._ensure()
        with open(self._lease, "a+") as lease:
            fcntl.flock(lease, fcntl.LOCK_SH)
            yield

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Held while blobs are read out of the store (unpack, a push or copy from it, `pull -o` copying
        blobs it has): garbage collection (`store gc`, `rm`) then leaves unreferenced blobs for a later
        run instead of deleting one mid-read. A store this process cannot write is read unleased."""
        try:  # (O_CREAT: a store written by an older version may lack the file)
            fd = os.open(self._lease, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            try:
                fd = os.open(self._lease, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:  # no store yet, or one we may not even read the lease of
                yield
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def exclusive_lease(self) -> Iterator[bool]:
        """Whether no copy into the store is running (in any process), held until the block ends."""
        self._ensure()
        with open(self._lease, "a+") as lease:
            try:
                fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True

    def check_room(self, blobs: Iterable[Descriptor], also_at: Path | None = None) -> None:
        """Refuse, before anything is written, blobs whose declared sizes do not fit on the store's
        filesystem (and, with `also_at`, a directory they will also be copied to). What killed pulls left
        in ingest/ is removed first (a pull retried after a SIGKILL would otherwise find the disk holding
        most of the model twice, and its download again), but for the stopped downloads of these blobs,
        which their pull resumes (see `resumable_ingest`): those count as room already taken."""
        blobs = list(blobs)
        kept = kept_downloads(self.ingest_dir, blobs)
        sweep_ingest(self, keep=kept)  # only files no live process holds (cheap: one listing)
        needs = [(self.root, sum(b.size - kept.get(partial_name(b), 0) for b in blobs if not self.has_blob(b)))]
        if also_at is not None:
            needs.append((also_at, sum(b.size for b in blobs)))
        require_space(needs)

    def put_bytes(self, desc: Descriptor, data: bytes) -> None:
        if not self.has_blob(desc):
            self.ingest(desc, io.BytesIO(data))

    def read_blob_bytes(self, desc: Descriptor, limit: int = MAX_MANIFEST_BYTES) -> bytes:
        """A small blob (manifest, config), size-capped and re-verified on every read."""
        return read_small(self, desc, limit)

    # -- index ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure()
        with open(self._lock, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_index(self) -> list[StoreEntry]:
        self._check_root()
        try:
            data = read_index_file(self._index)
        except FileNotFoundError:
            return []
        return parse_index(data, self._index)

    def _write_index(self, entries: list[StoreEntry]) -> None:
        atomic_write(self._index, index_bytes(entries))

    def _check_root(self) -> None:
        require_folder(self.root)

    def repair_index(self) -> str | None:
        """Replace a corrupt index.json by the entries that still read (see index_file.repair_index_file)."""
        with self._locked():
            return repair_index_file(self._index)

    def entries(self) -> list[StoreEntry]:
        return self._read_index()

    def set_reference(self, reference: Reference, desc: Descriptor, partial: bool | None = None) -> None:
        """Point `reference` at `desc`; `partial`: some of its layers were left out on purpose (None: as
        `desc`, an entry of this index, says)."""
        key = str(reference)
        if partial is None:
            partial = StoreEntry(key, desc).partial
        with self._locked():
            self._set(key, desc, partial)

    def _set(self, key: str, desc: Descriptor, partial: bool) -> None:
        """Write the entry `key` -> `desc`. The caller holds the index lock."""
        plain = Descriptor(mediaType=desc.media_type, digest=desc.digest, size=desc.size,
                           artifactType=desc.artifact_type, annotations={A_PARTIAL: "true"} if partial else None)
        entries = [e for e in self._read_index() if e.reference != key]
        entries.append(StoreEntry(key, plain))
        self._write_index(entries)

    def add_reference(self, source: Reference, target: Reference) -> Descriptor:
        """Point `target` at what `source` names, both read and written under the index lock: `rm` (and
        its garbage collection) takes that lock too, so the source cannot be removed, and its blobs
        deleted, between the two (a resolve, then a separate `set_reference`, left the new tag naming
        blobs a concurrent `rm` had just deleted).

        Returns:
            The descriptor both references now name.

        Raises:
            NotFoundError: `source` is not in the store.
        """
        with self._locked():
            desc = self.resolve(source)
            self._set(str(target), desc, StoreEntry(str(source), desc).partial)
        return desc

    def remove_reference(self, reference: Reference) -> list[str]:
        """Drop every index entry naming `reference` (a tag, or all names of a digest), and the signature
        entries of a manifest no name is left on (`attached_entries`); GC blobs. Returns the references
        dropped, those signature entries last."""
        with self._locked():
            gone, signatures, kept = entries_removed(self._read_index(), reference, self._listed)
            self._write_index(kept)
            collect_garbage(self, kept)
            sweep_ingest(self)  # cheap, and safe: only files no live process holds
        return [e.reference for e in gone + signatures]

    def _listed(self, desc: Descriptor) -> list[str]:
        """The digests an index in the store lists (none if it is missing or not an index)."""
        try:
            node = parse_manifest(self.read_blob_bytes(desc))
        except (NotFoundError, IntegrityError, ValueError):
            return []
        return [m.digest for m in node.manifests] if isinstance(node, Index) else []

    def collect_garbage(self) -> GcReport:
        """Remove unreferenced blobs (unless a copy into the store runs) and ingest leftovers."""
        with self._locked():
            report = collect_garbage(self, self._read_index())
        report.ingest_files, report.ingest_bytes = sweep_ingest(self)
        return report

    # -- where blobs came from: lets a push mount a blob from another repository of the registry ------
    def record_origin(self, repository: str, blobs: Iterable[Descriptor]) -> None:
        """Remember that `repository` (registry/name) holds these blobs (see `origins`)."""
        with self._locked():
            origin_file.record(self._origins, repository, blobs)

    def origins(self) -> dict[str, list[str]]:
        """Every blob's recorded repositories, read once: a caller asking per blob would read the whole
        file (one entry per blob ever pushed or pulled) that many times."""
        return origin_file.read(self._origins)

    def forget_origins(self, digests: Collection[str]) -> None:
        """Drop the recorded repositories of blobs deleted from the store. The caller holds the index lock."""
        origin_file.drop(self._origins, digests)

    def find(self, reference: Reference) -> Descriptor | None:
        try:
            return self.resolve(reference)
        except NotFoundError:
            return None

    def resolve(self, reference: Reference) -> Descriptor:
        if reference.digest:
            digest = reference.digest
            for entry in self._read_index():
                if entry.descriptor.digest == digest:
                    return entry.descriptor
            path = self.blob_path(digest)
            if path.exists():
                with open_regular(path, "blob") as f:  # it may be a 10 GB weight file: read no more
                    data = f.read(MAX_MANIFEST_BYTES + 1)  # than a manifest's cap
                return _describe_manifest(data)
            raise NotFoundError(f"{reference.written} is not in the local store")
        key, entries = str(reference), self._read_index()
        for entry in entries:
            if entry.reference == key:
                return entry.descriptor
        raise not_in_store(reference, (e.reference for e in entries))

    def repository(self, name: str, also_at: Path | None = None, partial: bool = False,
                   patience: float | None = None) -> LayoutRepository:
        return LayoutRepository(self, name, also_at, partial, patience)


def _describe_manifest(data: bytes) -> Descriptor:
    node = parse_manifest(data)
    return Descriptor(mediaType=node.media_type, digest=digests.of_bytes(data), size=len(data),
                      artifactType=node.artifact_type)


__all__ = ["LayoutRepository", "LayoutStore", "StoreEntry", "default_home", "json_bytes"]
