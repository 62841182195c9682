"""Any OCI image layout directory as a `Storage`: the `oci:DIR[:TAG|@DIGEST]` place.

The layout is the one `oras --oci-layout`, `skopeo oci:` and oras-go's `oci` store read and write:
`oci-layout`, `blobs/<alg>/<hex>`, and `index.json` whose entries name their tag in
`org.opencontainers.image.ref.name`. As oras-go does, every manifest pushed is listed in index.json,
tagged or not, so referrers (signatures, attestations) are found through the index: the entries
whose manifest's `subject` is the digest asked about, and those listed by a fallback index tagged
`sha256-<hex>` (how skopeo, crane and oras copy a registry's into a layout).

A layout holds only what the image-layout spec defines once a write ends: blobs are received in `ingest/`
(beside `blobs/`, so a rename puts them in place) and the last writer to finish removes the folder when
it is empty; writers of index.json take turns with a lock on the layout folder itself, so no lock file is
left either (see `_scratch`, `_locked`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from modelpack.errors import IntegrityError, NotFoundError, UsageError
from modelpack.files import atomic_write, new_file_mode
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, listed_artifact_type, parse_manifest
from modelpack.store.layout import LayoutStore
from modelpack.store.layout_index_view import MAX_LAYOUT_INDEX_BYTES, IndexFile
from modelpack.store.target import Opener, Progress
from modelpack.streams import ByteStream

MAX_INDEX_ENTRIES = 10_000  # manifests listed in one layout's index.json that a referrer search reads


class OciLayout:
    """An OCI image layout at `root`. Blobs are received and verified as in the local store (whose
    blob half this reuses); the index is the layout's own: tags are bare names, not references."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = root.resolve().name or "model"
        self._blobs = LayoutStore(root)
        self._blobs.where = f"the OCI layout {root}"
        self._index = root / "index.json"
        self._index_file = IndexFile(self._index)  # read once per version of the file (see layout_index_view)
        self._subjects: dict[str, str | None] = {}  # manifest digest -> its subject's digest (read once)

    def __repr__(self) -> str:
        return f"OciLayout({str(self.root)!r})"

    def exists(self) -> bool:
        return (self.root / "oci-layout").is_file()

    # -- blobs -------------------------------------------------------------------------------------
    def has_blob(self, desc: Descriptor) -> bool:
        return self._blobs.has_blob(desc)

    def open_blob(self, desc: Descriptor) -> ByteStream:
        return self._blobs.open_blob(desc)

    def verified_path(self, desc: Descriptor) -> Path | None:
        return self._blobs.verified_path(desc)

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        if self.has_blob(desc):
            return
        with self._scratch():
            self._blobs.push_blob(desc, opener, progress)

    def cancel(self) -> None:
        """The transfer is abandoned (Ctrl-C, another blob failed): a file being copied in stops now."""
        self._blobs.cancel()

    def resume(self) -> None:
        self._blobs.resume()

    # -- manifests ---------------------------------------------------------------------------------
    def has_manifest(self, desc: Descriptor) -> bool:
        return self._blobs.repository(self.name).has_manifest(desc)

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        desc = self.resolve(version)
        return desc, self._blobs.read_blob_bytes(desc)

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        if not self.has_blob(desc):
            with self._scratch():
                self._blobs.put_bytes(desc, data)
        entry = Descriptor(mediaType=desc.media_type, digest=desc.digest, size=desc.size,
                           artifactType=desc.artifact_type or parse_manifest(data).artifact_type)
        with self._locked():
            entries = self._index_file.read()
            if tag is not None:
                entries = [e for e in entries if e.annotation(mt.A_REF_NAME) != tag]
                entries.append(entry.replace(annotations={mt.A_REF_NAME: tag}))
            elif not any(e.digest == desc.digest for e in entries):
                entries.append(entry)  # untagged, as oras-go lists it: so referrers are found
            self._write(entries)

    def resolve(self, version: str) -> Descriptor:
        found = self.find(version) or self._listed_by_an_index(version)
        if found is None:
            raise NotFoundError(f"{version} is not in the OCI layout {self.root}")
        return found

    def find(self, version: str) -> Descriptor | None:
        view = self._index_file.view()
        entry = view.by_tag.get(version) or view.by_digest.get(version)  # (a tag has no ':', a digest has)
        return entry.replace(annotations=None) if entry is not None else None

    def _listed_by_an_index(self, digest: str) -> Descriptor | None:
        """A manifest listed by an index of index.json rather than by index.json itself, by digest: what
        `skopeo copy --all` writes for an index's children (a platform image, a signature of a fallback index).
        A digest whose blob the layout does not hold is not looked for (a stat); else every index is read
        (verified) once per version of index.json, not once per lookup."""
        if not digest.startswith(("sha256:", "sha512:")) or not digests.is_digest(digest):
            return None
        if not self._blobs.blob_path(digest).is_file():
            return None
        view = self._index_file.view()
        if view.children is None:
            children: dict[str, Descriptor] = {}
            for entry in view.entries[:MAX_INDEX_ENTRIES]:
                if entry.media_type not in (mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST):
                    continue
                try:
                    node = parse_manifest(self._blobs.read_blob_bytes(entry))
                except (IntegrityError, NotFoundError):
                    continue  # a damaged entry lists nothing, as in _subject_of
                for child in node.manifests if isinstance(node, Index) else ():
                    children.setdefault(child.digest, child.replace(annotations=None))
            view.children = children
        return view.children.get(digest)

    def default_version(self) -> str:
        """What `oci:DIR` with no tag names: the layout's only tagged manifest, else its only manifest.

        Raises:
            UsageError: none, or several to choose from.
        """
        entries = self._entries()
        tagged = [e for e in entries if e.annotation(mt.A_REF_NAME)]
        candidates = tagged or entries
        if len(candidates) == 1:
            return candidates[0].digest
        names = ", ".join(sorted(self.tags())) or "none"
        raise UsageError(f"the OCI layout {self.root} holds {len(candidates)} manifests; name one as "
                         f"oci:{self.root}:TAG or @sha256:... (tags: {names})")

    # -- capabilities ------------------------------------------------------------------------------
    def list_referrers(self, digest: str) -> list[Descriptor] | None:
        found = []
        for entry in self._entries()[:MAX_INDEX_ENTRIES]:
            if self._subject_of(entry) == digest:
                node = parse_manifest(self._blobs.read_blob_bytes(entry))
                found.append(Descriptor(mediaType=entry.media_type, digest=entry.digest, size=entry.size,
                                        artifactType=listed_artifact_type(node), annotations=node.annotations))
        return found + self._fallback_listed(digest)

    def _fallback_listed(self, digest: str) -> list[Descriptor]:
        """The referrers listed by an index tagged `sha256-<hex>` (the tag-schema fallback). skopeo, crane and
        oras copy a registry's fallback index into a layout as one more tagged entry: its signatures are then
        reachable only through it, as oras-go finds them (through the index graph)."""
        tagged = self.find(digest.replace(":", "-", 1))
        if tagged is None:
            return []
        try:
            node = parse_manifest(self._blobs.read_blob_bytes(tagged))
        except (IntegrityError, NotFoundError):
            return []  # damaged or missing, as an entry in _subject_of: it lists nothing
        return list(node.manifests) if isinstance(node, Index) else []

    def push_referrer(self, desc: Descriptor, data: bytes) -> bool:
        self.push_manifest(desc, data)
        return True

    def tags(self) -> list[str]:
        return sorted({tag for e in self._entries() if (tag := e.annotation(mt.A_REF_NAME))})

    def has_tags(self) -> bool:
        return bool(self.tags())

    def untag(self, tag: str) -> bool:
        with self._locked():
            entries = self._index_file.read()
            kept = [e for e in entries if e.annotation(mt.A_REF_NAME) != tag]
            self._write(kept)
        return len(kept) < len(entries)

    def delete_manifest(self, digest: str) -> None:
        with self._locked():
            entries = self._index_file.read()
            if not any(e.digest == digest for e in entries):
                raise NotFoundError(f"{digest} is not in the OCI layout {self.root}")
            self._write([e for e in entries if e.digest != digest])

    # -- index.json --------------------------------------------------------------------------------
    def _subject_of(self, entry: Descriptor) -> str | None:
        if entry.digest not in self._subjects:
            try:
                subject = getattr(parse_manifest(self._blobs.read_blob_bytes(entry)), "subject", None)
            except (IntegrityError, NotFoundError):
                subject = None  # a damaged or missing entry refers to nothing
            self._subjects[entry.digest] = subject.digest if subject is not None else None
        return self._subjects[entry.digest]

    def _entries(self) -> list[Descriptor]:
        return self._index_file.view().entries

    def _write(self, entries: list[Descriptor]) -> None:
        """Replace index.json, unless it would be too large to read back (nothing is written then).

        Raises:
            UsageError: the index would be over MAX_LAYOUT_INDEX_BYTES.
        """
        data = Index(manifests=entries).canonical_bytes()
        if len(data) > MAX_LAYOUT_INDEX_BYTES:
            raise UsageError(f"the OCI layout's index {self._index} would be {len(data)} bytes, over the "
                             f"{MAX_LAYOUT_INDEX_BYTES} byte limit for reading it: remove tags, or use another layout")
        atomic_write(self._index, data, mode=new_file_mode())  # a layout is for others to read too

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Writers of index.json (and of ingest/'s existence) take turns: an flock on the layout folder,
        which no rename replaces (index.json's is replaced on every write) and which leaves no file behind
        (a lock file would be one more entry than the spec's)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not self.exists():
                atomic_write(self.root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', mode=new_file_mode())
            yield
        finally:
            os.close(fd)  # (the lock goes with it)

    @contextlib.contextmanager
    def _scratch(self) -> Iterator[None]:
        """ingest/ for as long as a blob is received: each receiver holds the folder with a shared flock
        (taken under the index lock, so it is not removed between its creation and the hold), and the
        one that ends with no other holder removes it if it is empty. Anything left there (another tool's
        file in the making, a killed writer's part) keeps it: it is not ours to delete."""
        ingest = self._blobs.ingest_dir
        with self._locked():
            ingest.mkdir(exist_ok=True)
            (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            fd = os.open(ingest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            yield
        finally:
            closed = False
            try:
                with self._locked():
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        pass  # another writer is receiving: the last one out removes it
                    else:
                        with contextlib.suppress(OSError):  # not empty (or gone): left as it is
                            ingest.rmdir()
                    # Our hold ends inside the index lock, so the next writer to end cannot find it (not left
                    # to a failed conversion dropping it, which flock(2) says it does but does not promise).
                    os.close(fd)
                    closed = True
            finally:
                if not closed:
                    os.close(fd)
