"""Content in memory: a complete `Storage` with every capability, for tests of copy(), signing and graph
walks that need no disk and no registry (oras-go's memory store)."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence

from modelpack.errors import IntegrityError, NotFoundError
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, parse_manifest
from modelpack.store.target import Opener, Progress
from modelpack.streams import ByteStream, read_at_most


class MemoryStore:
    """Blobs and manifests by digest, tags by name; manifests with a subject are indexed by it."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self._blobs: dict[str, bytes] = {}
        self._manifests: dict[str, Descriptor] = {}
        self._tags: dict[str, str] = {}
        self._referrers: dict[str, dict[str, Descriptor]] = {}  # subject digest -> referrers by digest
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore({self.name!r})"

    # -- Storage ---------------------------------------------------------------------------------
    def has_blob(self, desc: Descriptor) -> bool:
        return desc.digest in self._blobs

    def open_blob(self, desc: Descriptor) -> ByteStream:
        try:
            return io.BytesIO(self._blobs[desc.digest])
        except KeyError:
            raise NotFoundError(f"blob {desc.digest} is not in {self.name}") from None

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        with opener() as source:
            data = read_at_most(source, desc.size)
        verifier = digests.Verifier(desc.digest, desc.size)
        verifier.update(data)
        verifier.verify()
        with self._lock:
            self._blobs[desc.digest] = data
        if progress:
            progress(len(data))

    def has_manifest(self, desc: Descriptor) -> bool:
        return desc.digest in self._manifests

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        desc = self.resolve(version)
        return desc, self._blobs[desc.digest]

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        if digests.of_bytes(data) != desc.digest:
            raise IntegrityError(f"manifest does not match its digest {desc.digest}")
        node = parse_manifest(data)
        with self._lock:
            self._blobs[desc.digest] = data
            self._manifests[desc.digest] = desc
            if tag is not None:
                self._tags[tag] = desc.digest
            subject = getattr(node, "subject", None)
            if subject is not None:
                entry = Descriptor(mediaType=desc.media_type, digest=desc.digest, size=desc.size,
                                   artifactType=node.artifact_type, annotations=node.annotations)
                self._referrers.setdefault(subject.digest, {})[desc.digest] = entry

    def resolve(self, version: str) -> Descriptor:
        found = self.find(version)
        if found is None:
            raise NotFoundError(f"{version} is not in {self.name}")
        return found

    def find(self, version: str) -> Descriptor | None:
        digest = version if digests.is_digest(version) else self._tags.get(version)
        return self._manifests.get(digest) if digest is not None else None

    # -- capabilities ------------------------------------------------------------------------------
    def list_referrers(self, digest: str) -> list[Descriptor] | None:
        return list(self._referrers.get(digest, {}).values())

    def push_referrer(self, desc: Descriptor, data: bytes) -> bool:
        self.push_manifest(desc, data)
        return True

    def tags(self) -> list[str]:
        return sorted(self._tags)

    def has_tags(self) -> bool:
        return bool(self._tags)

    def untag(self, tag: str) -> bool:
        with self._lock:
            return self._tags.pop(tag, None) is not None

    def delete_manifest(self, digest: str) -> None:
        with self._lock:
            if self._manifests.pop(digest, None) is None:
                raise NotFoundError(f"{digest} is not in {self.name}")
            self._tags = {tag: d for tag, d in self._tags.items() if d != digest}
            for referrers in self._referrers.values():
                referrers.pop(digest, None)
