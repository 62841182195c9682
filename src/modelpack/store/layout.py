"""The local store: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`).

Blobs are written to `ingest/` while their digest is checked, then renamed into place read-only, so a
crash or a corrupt download never leaves bad content under a digest's name. `index.json` maps full
references (`registry/repository:tag`) to manifests and is rewritten atomically under a file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelpack.errors import IntegrityError, NotFoundError
from modelpack.files import atomic_write
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Descriptor, Index, Manifest, json_bytes, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.store.target import Opener, Progress, read_small
from modelpack.streams import ByteStream, fill

CHUNK = 1024 * 1024
# A blob at least this large may be hashed on a second thread while it is received and written.
THREADED_HASH_MIN_BYTES = 64 * 1024 * 1024
GC_GRACE_SECONDS = 600


def default_home() -> Path:
    if home := os.environ.get("MODELPACK_HOME"):
        return Path(home).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "modelpack"


@dataclass(frozen=True)
class StoreEntry:
    reference: str  # registry/repository:tag or registry/repository@digest
    descriptor: Descriptor


class LayoutStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_home()).expanduser()
        self.blobs = self.root / "blobs"
        self._ingest = self.root / "ingest"
        self._index = self.root / "index.json"
        self._lock = self.root / ".index.lock"
        self._origins = self.root / "origins.json"
        # Digests whose file this process has hashed (on ingest or on use): safe to hand out unread.
        self.verified: set[str] = set()
        self._state_lock = threading.Lock()  # guards `verified` and `_ingesting_large`
        self._ingesting_large = 0  # large blobs being written now (see ingest)

    # -- layout ---------------------------------------------------------------------------------
    def _ensure(self) -> None:
        if (self.root / "oci-layout").exists():
            return
        self._ingest.mkdir(parents=True, exist_ok=True)
        (self.blobs / "sha256").mkdir(parents=True, exist_ok=True)
        atomic_write(self.root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')

    # -- blobs ----------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        alg, hexd = digests.hex_part(digest)
        return self.blobs / alg / hexd

    def has_blob(self, desc: Descriptor) -> bool:
        try:
            return self.blob_path(desc.digest).stat().st_size == desc.size
        except FileNotFoundError:
            return False

    def open_blob(self, desc: Descriptor) -> ByteStream:
        try:
            return open(self.blob_path(desc.digest), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {desc.digest} is not in the local store") from None

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        if self.has_blob(desc):
            return
        with opener() as source:
            self.ingest(desc, source, progress)

    def linkable_path(self, desc: Descriptor) -> Path | None:
        """The blob's file, verified, for an output file to hard-link to (see unpacking)."""
        self.verify_blob(desc)
        return self.blob_path(desc.digest)

    def verify_blob(self, desc: Descriptor) -> None:
        """Hash a stored blob before it is used unread (linked out); a corrupt one is deleted, so the
        next pull fetches it again, and IntegrityError is raised."""
        if desc.digest in self.verified:
            return
        verifier = digests.Verifier(desc.digest, desc.size)
        try:
            view = memoryview(bytearray(CHUNK))
            with self.open_blob(desc) as f:
                while n := fill(f, view):
                    verifier.update(view[:n])
            verifier.verify()
        except IntegrityError:
            self.blob_path(desc.digest).unlink(missing_ok=True)
            raise IntegrityError(f"local store blob {desc.digest} was corrupt and has been removed") from None
        with self._state_lock:
            self.verified.add(desc.digest)

    def ingest(self, desc: Descriptor, source: ByteStream, progress: Progress | None = None) -> Path:
        """Copy `source` into the store, verifying size and digest before it gets its name."""
        self._ensure()
        final = self.blob_path(desc.digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        verifier = digests.Verifier(desc.digest, desc.size)
        fd, tmp = tempfile.mkstemp(dir=self._ingest, prefix=desc.digest.split(":")[1][:16] + ".")
        large = desc.size >= THREADED_HASH_MIN_BYTES
        with self._state_lock:
            # A second core for hashing only while there are cores to spare: with several large blobs
            # arriving at once, the extra threads only add hand-offs (measured).
            threaded = large and self._ingesting_large * 2 < (os.cpu_count() or 1)
            self._ingesting_large += large
        hashing = digests.ThreadedHashing(verifier, CHUNK) if threaded else digests.InlineHashing(verifier, CHUNK)
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                while True:
                    # Read into a pooled buffer: the bytes are copied once into it, written and hashed from it.
                    buffer = hashing.buffer()
                    n = fill(source, memoryview(buffer))
                    if not n:
                        break
                    _write_all(out, memoryview(buffer)[:n])
                    hashing.hashed(buffer, n)
                    if progress:
                        progress(n)
                hashing.finish()
                verifier.verify()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
        except BaseException:
            hashing.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        finally:
            with self._state_lock:
                self._ingesting_large -= large
        with self._state_lock:
            self.verified.add(desc.digest)
        return final

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
        try:
            raw = json.loads(self._index.read_bytes())
        except FileNotFoundError:
            return []
        index = Index.from_json(raw)
        entries = []
        for desc in index.manifests:
            ref = desc.annotation(mt.A_REF_NAME)
            if ref:
                entries.append(StoreEntry(ref, desc))
        return entries

    def _write_index(self, entries: list[StoreEntry]) -> None:
        manifests = []
        for entry in sorted(entries, key=lambda e: e.reference):
            annotations = dict(entry.descriptor.annotations or {})
            annotations[mt.A_REF_NAME] = entry.reference
            manifests.append(entry.descriptor.replace(annotations=annotations).to_json())
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
        atomic_write(self._index, json.dumps(index, indent=2).encode() + b"\n")

    def entries(self) -> list[StoreEntry]:
        return self._read_index()

    def set_reference(self, reference: Reference, desc: Descriptor) -> None:
        key = str(reference)
        plain = Descriptor(mediaType=desc.media_type, digest=desc.digest, size=desc.size,
                           artifactType=desc.artifact_type)
        with self._locked():
            entries = [e for e in self._read_index() if e.reference != key]
            entries.append(StoreEntry(key, plain))
            self._write_index(entries)

    def remove_reference(self, reference: Reference) -> list[str]:
        """Drop every index entry naming `reference` (a tag, or all names of a digest); GC blobs."""
        with self._locked():
            entries = self._read_index()
            if reference.digest and not reference.tag:
                gone = [e for e in entries if e.reference.startswith(reference.name + ":")
                        or e.reference.startswith(reference.name + "@")]
                gone = [e for e in gone if e.descriptor.digest == reference.digest]
            else:
                gone = [e for e in entries if e.reference == str(reference)]
            if not gone:
                raise NotFoundError(f"{reference} is not in the local store")
            kept = [e for e in entries if e not in gone]
            self._write_index(kept)
            self._collect_garbage(kept)
        return [e.reference for e in gone]

    # -- where blobs came from: lets a push mount a blob from another repository of the registry ------
    def record_origin(self, repository: str, blobs: Iterable[Descriptor]) -> None:
        """Remember that `repository` (registry/name) holds these blobs; keeps the 8 latest per blob."""
        with self._locked():
            origins = self._read_origins()
            for blob in blobs:
                names = [n for n in origins.get(blob.digest, []) if n != repository]
                origins[blob.digest] = [repository, *names][:8]
            atomic_write(self._origins, json.dumps(origins, separators=(",", ":")).encode())

    def origins(self, digest: str) -> list[str]:
        return self._read_origins().get(digest, [])

    def _read_origins(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self._origins.read_bytes())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

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
                data = path.read_bytes()[: MAX_MANIFEST_BYTES + 1]
                return _describe_manifest(data)
            raise NotFoundError(f"{reference} is not in the local store")
        key = str(reference)
        for entry in self._read_index():
            if entry.reference == key:
                return entry.descriptor
        raise NotFoundError(f"{reference} is not in the local store")

    def _collect_garbage(self, kept: list[StoreEntry]) -> None:
        live: set[str] = set()
        stack = [e.descriptor for e in kept]
        while stack:
            desc = stack.pop()
            if desc.digest in live:
                continue
            live.add(desc.digest)
            if desc.media_type in mt.MANIFEST_TYPES and self.has_blob(desc):
                node = parse_manifest(self.read_blob_bytes(desc))
                if isinstance(node, Manifest):
                    stack.append(node.config)
                    stack.extend(node.layers)
                    if node.subject:
                        stack.append(node.subject)
                else:
                    stack.extend(node.manifests)
        # A blob written in the last minutes may belong to a pull or pack still running in another
        # process (blobs land before the index names them): leave those for a later collection.
        cutoff = time.time() - GC_GRACE_SECONDS
        for alg_dir in self.blobs.iterdir() if self.blobs.exists() else []:
            for blob in alg_dir.iterdir():
                if f"{alg_dir.name}:{blob.name}" not in live:
                    with contextlib.suppress(FileNotFoundError):
                        if blob.stat().st_mtime < cutoff:
                            blob.unlink()

    def repository(self, name: str) -> LayoutRepository:
        return LayoutRepository(self, name)


class LayoutRepository:
    """The local store seen as one repository, so `copy()` can treat it like a registry."""

    def __init__(self, store: LayoutStore, name: str) -> None:
        self.store = store
        self.name = name

    def _ref(self, version: str) -> Reference:
        base = Reference.parse(self.name + ":x")
        return base.with_digest(version) if digests.is_digest(version) else base.with_tag(version)

    def has_blob(self, desc: Descriptor) -> bool:
        return self.store.has_blob(desc)

    def has_manifest(self, desc: Descriptor) -> bool:
        # Unlike a registry, a local directory can lose files: check the children too (stat calls only),
        # each node once, so a diamond-shaped index costs its size, not its number of paths.
        seen: set[str] = set()
        pending = [desc]
        while pending:
            current = pending.pop()
            if current.digest in seen:
                continue
            seen.add(current.digest)
            if not self.store.has_blob(current):
                return False
            try:
                node = parse_manifest(self.store.read_blob_bytes(current))
            except (IntegrityError, NotFoundError):
                return False
            if isinstance(node, Manifest):
                if not all(self.store.has_blob(d) for d in (node.config, *node.layers)):
                    return False
            else:
                pending.extend(node.manifests)
        return True

    def open_blob(self, desc: Descriptor) -> ByteStream:
        return self.store.open_blob(desc)

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        self.store.push_blob(desc, opener, progress)

    def resolve(self, version: str) -> Descriptor:
        return self.store.resolve(self._ref(version))

    def find(self, version: str) -> Descriptor | None:
        # A local tag whose content has gone missing (or been found corrupt) counts as absent, so a
        # pull fetches the content again instead of trusting the tag.
        desc = self.store.find(self._ref(version))
        return desc if desc is not None and self.has_manifest(desc) else None

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        desc = self.resolve(version)
        return desc, self.store.read_blob_bytes(desc)

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        self.store.put_bytes(desc, data)
        ref = self._ref(tag) if tag else self._ref(desc.digest)
        self.store.set_reference(ref, desc)


def _write_all(out: Any, chunk: bytes | memoryview) -> None:
    view = memoryview(chunk)
    while view:
        written = out.write(view)
        view = view[written:]


def _describe_manifest(data: bytes) -> Descriptor:
    node = parse_manifest(data)
    return Descriptor(mediaType=node.media_type, digest=digests.of_bytes(data), size=len(data),
                      artifactType=node.artifact_type)


__all__ = ["LayoutRepository", "LayoutStore", "StoreEntry", "default_home", "json_bytes"]
