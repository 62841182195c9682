"""A manifest and small blobs a caller has already fetched, handed to a pull so it fetches them no more.

`serve REF` reads the manifest and the config to refuse a pickle before anything is downloaded; the pull
that follows takes those same bytes (`pull(prefetched=...)`): one manifest GET and one config GET in all,
and the model pulled is exactly the digest the check read. The bytes are still checked against their
digests where they land, as every blob is.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelpack.errors import IntegrityError
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor
from modelpack.store.target import ReadableStorage
from modelpack.streams import ByteStream


@dataclass(frozen=True)
class Prefetched:
    """A manifest as fetched from a repository (its descriptor and exact bytes), and blobs it references
    already read from there (digest -> bytes; typically the config)."""

    descriptor: Descriptor
    manifest: bytes
    blobs: Mapping[str, bytes] = field(default_factory=dict)
    asked_as: str = ""  # the tag or digest the manifest was fetched by ("" unknown)

    def checked(self) -> tuple[Descriptor, bytes]:
        """The manifest's descriptor and bytes, once its bytes are known to be that digest's.

        Raises:
            IntegrityError: the bytes are not the descriptor's.
        """
        actual = digests.of_bytes(self.manifest)
        if actual != self.descriptor.digest or len(self.manifest) != self.descriptor.size:
            raise IntegrityError(f"prefetched manifest {self.descriptor.digest} does not match its bytes "
                                 f"(they are {actual})", self.descriptor.digest)
        return self.descriptor, self.manifest


class PrefetchedSource:
    """`source` with some blobs served from memory; all else (manifests, other blobs, referrers,
    cancellation) is `source`'s. The destination verifies what it receives, as from any source."""

    def __init__(self, source: ReadableStorage, blobs: Mapping[str, bytes]) -> None:
        self._source = source
        self._blobs = dict(blobs)

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        return self._source.fetch_manifest(version)

    def open_blob(self, desc: Descriptor) -> ByteStream:
        held = self._blobs.get(desc.digest)
        return io.BytesIO(held) if held is not None else self._source.open_blob(desc)

    def quick_fetches(self) -> Any:
        """The source's quick fetches (see quick_fetch), the blobs held here answered from memory."""
        fetches = getattr(self._source, "quick_fetches", None)
        found = fetches() if fetches is not None else None
        return _HeldFirst(found, self._blobs) if found is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


class _HeldFirst:
    """Quick fetches that hand over a held blob at once and start the others as `fetches` would."""

    def __init__(self, fetches: Any, blobs: Mapping[str, bytes]) -> None:
        self._fetches = fetches
        self._blobs = blobs

    def start(self, desc: Descriptor, accept: Callable[[Descriptor, bytes], bool],
              done: Callable[[bool], None]) -> None:
        held = self._blobs.get(desc.digest)
        if held is None:
            self._fetches.start(desc, accept, done)
        else:
            done(accept(desc, held))  # False: the ordinary path opens it, from memory too

    def wait(self) -> None:
        self._fetches.wait()
