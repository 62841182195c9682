"""A registry repository as one page load sees it, read-only.

Its tag list is read once per page, and each tag resolved once: a tag it does not list is absent without
a request (signature lookups ask for `sha256-<hex>`, `.sig` and `.att` tags of every version, and most
versions have none).
Manifests fetched by digest and small blobs (configs, signature bundles) are immutable, so they are
kept in memory by digest across pages; whether the registry has the referrers API is asked once.
Every write is refused: the UI cannot change the registry whatever a page asks of it.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Sequence

from modelpack.errors import NotFoundError, UsageError
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor
from modelpack.store.target import Opener, Progress, RepositoryStorage, TagListNote, read_small
from modelpack.streams import ByteStream

SMALL_BLOB = 1024 * 1024  # configs, signature bundles, README layers: kept whole in memory


class DigestCache:
    """Bytes by digest, least recently used dropped past `budget` bytes (content by digest never changes)."""

    def __init__(self, budget: int = 64 * 1024 * 1024) -> None:
        self.budget = budget
        self._items: OrderedDict[str, tuple[Descriptor | None, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, digest: str) -> tuple[Descriptor | None, bytes] | None:
        with self._lock:
            item = self._items.get(digest)
            if item is not None:
                self._items.move_to_end(digest)
            return item

    def put(self, digest: str, desc: Descriptor | None, data: bytes) -> None:
        with self._lock:
            if digest in self._items or len(data) > self.budget:
                return
            self._items[digest] = (desc, data)
            self._size += len(data)
            while self._size > self.budget:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= len(dropped)


class SharedState:
    """What every page of one `modelpack ui` shares: the caches and what each host can do."""

    def __init__(self) -> None:
        self.manifests = DigestCache()
        self.blobs = DigestCache()
        self.referrers_api: dict[str, bool] = {}  # host -> answers GET /v2/<name>/referrers/<digest>


class SnapshotRepository:
    """`inner` read through `shared`'s caches, its tag list fixed at the first `tags()` call."""

    def __init__(self, inner: RepositoryStorage, host: str, shared: SharedState) -> None:
        self.inner, self.host, self.shared = inner, host, shared
        self.name = inner.name
        self._tags: list[str] | None = None
        self._tag_set: frozenset[str] = frozenset()
        self._resolved: dict[str, Descriptor] = {}  # tag -> what it named when this page asked
        self._lock = threading.Lock()

    # -- tags: read once -------------------------------------------------------------------------------
    def tags(self) -> list[str]:
        with self._lock:
            if self._tags is None:
                self._tags = self.inner.tags()
                self._tag_set = frozenset(self._tags)
            return list(self._tags)

    def has_tags(self) -> bool:
        return bool(self.tags())

    def tag_list_note(self) -> str | None:
        """The snapshot's list is the inner repository's: a mirror's, said so (see TagListNote)."""
        return self.inner.tag_list_note() if isinstance(self.inner, TagListNote) else None

    def _absent(self, version: str) -> bool:
        """A tag this snapshot's list does not hold (digests are always asked for)."""
        return not digests.is_digest(version) and version not in self._tag_set and self._tags is not None

    # -- reads -----------------------------------------------------------------------------------------
    def resolve(self, version: str) -> Descriptor:
        if self._absent(version):
            raise NotFoundError(f"{self.host}/{self.name}:{version} not found")
        known = self._resolved.get(version)
        if known is None:
            known = self._resolved[version] = self.inner.resolve(version)
        return known

    def find(self, version: str) -> Descriptor | None:
        try:
            return self.resolve(version)
        except NotFoundError:
            return None

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        if self._absent(version):
            raise NotFoundError(f"manifest of {self.host}/{self.name}:{version} not found")
        cached = self.shared.manifests.get(version) if digests.is_digest(version) else None
        if cached is not None and cached[0] is not None:
            return cached[0], cached[1]
        desc, data = self.inner.fetch_manifest(version)
        self.shared.manifests.put(desc.digest, desc, data)
        return desc, data

    def open_blob(self, desc: Descriptor) -> ByteStream:
        if desc.size > SMALL_BLOB:
            return self.inner.open_blob(desc)
        cached = self.shared.blobs.get(desc.digest)
        if cached is None:
            data = read_small(self.inner, desc, SMALL_BLOB)  # verified before it is kept
            self.shared.blobs.put(desc.digest, None, data)
        else:
            data = cached[1]
        return io.BytesIO(data)

    def has_blob(self, desc: Descriptor) -> bool:
        return self.shared.blobs.get(desc.digest) is not None or self.inner.has_blob(desc)

    def has_manifest(self, desc: Descriptor) -> bool:
        return self.shared.manifests.get(desc.digest) is not None or self.inner.has_manifest(desc)

    def list_referrers(self, digest: str) -> list[Descriptor] | None:
        if self.shared.referrers_api.get(self.host) is False:
            return None
        found = self.inner.list_referrers(digest)
        self.shared.referrers_api[self.host] = found is not None
        return found

    # -- writes: refused -------------------------------------------------------------------------------
    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        raise _read_only()

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        raise _read_only()

    def push_referrer(self, desc: Descriptor, data: bytes) -> bool:
        raise _read_only()

    def delete_manifest(self, digest: str) -> None:
        raise _read_only()

    def untag(self, tag: str) -> bool:
        raise _read_only()


def _read_only() -> UsageError:
    return UsageError("modelpack ui is read-only")
