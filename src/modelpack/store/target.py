"""The storage roles every place content lives in implements, the oras-go way: a small `Storage`
(blobs and manifests, by tag or digest) and optional capabilities, discovered with `isinstance`:
`ReferrerLister` (what refers to a manifest), `TagLister`, `Deleter`, `RangeReader` (a blob from a
given byte on, for resuming a download), `SpanReader` (a part of a blob). Implemented by a registry
repository, the local store, an OCI image layout directory (`oci:DIR`), memory (tests), and, read side
only, a packed-but-unstored model. `copy()`, signing and verification are written against these alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from modelpack.errors import IntegrityError
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor
from modelpack.streams import ByteStream, read_at_most

Opener = Callable[[], ByteStream]
Progress = Callable[[int], None]


def read_small(target: BlobReader, desc: Descriptor, limit: int) -> bytes:
    """A small blob (manifest, config, signature) read whole, size-capped and verified against its digest."""
    if desc.size > limit:
        raise IntegrityError(f"blob {desc.digest} is {desc.size} bytes, over the {limit} byte limit")
    with target.open_blob(desc) as stream:
        data = read_at_most(stream, desc.size)
    verifier = digests.Verifier(desc.digest, desc.size)
    verifier.update(data)
    verifier.verify()
    return data


@runtime_checkable
class RangeReader(Protocol):
    def open_blob_from(self, desc: Descriptor, start: int) -> ByteStream:
        """The blob's bytes from `start` on. Callers verify the whole blob.

        Raises:
            RangesIgnored: the source does not serve that range.
        """
        ...


@runtime_checkable
class SpanReader(Protocol):
    def open_blob_range(self, desc: Descriptor, start: int, end: int) -> ByteStream:
        """The blob's bytes [start, end), read without its digest checked (a part cannot be).

        Raises:
            RangesIgnored: the source does not serve that range.
        """
        ...


class BlobOpener:
    """Opens one blob of a source from its start; and from a given byte, when the source can
    (`RangeReader`): what lets the local store resume a download an earlier process left unfinished."""

    def __init__(self, source: BlobReader, desc: Descriptor) -> None:
        self._source = source
        self._desc = desc

    def __call__(self) -> ByteStream:
        return self._source.open_blob(self._desc)

    @property
    def resumable(self) -> bool:
        return isinstance(self._source, RangeReader)

    def from_offset(self, start: int) -> ByteStream:
        """The blob's bytes from `start` on; only where `resumable`.

        Raises:
            RangesIgnored: the source does not serve that range.
        """
        if not isinstance(self._source, RangeReader):
            raise TypeError(f"{type(self._source).__name__} cannot start a blob mid-way")
        return self._source.open_blob_from(self._desc, start)


class SpeculationFailed(Exception):
    """A speculative upload (digest not yet known) the destination would not take: push the blob the
    ordinary way instead."""


class BlobReader(Protocol):
    def open_blob(self, desc: Descriptor) -> ByteStream:
        """A stream of the blob's bytes. Callers verify what they read."""
        ...


class ReadableStorage(BlobReader, Protocol):
    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        """A manifest by tag or digest: its descriptor and exact bytes (verified against a digest)."""
        ...


class Storage(ReadableStorage, Protocol):
    def has_blob(self, desc: Descriptor) -> bool: ...

    def has_manifest(self, desc: Descriptor) -> bool:
        """Whether the manifest (and so, by the registry's guarantee, everything it references) is here."""
        ...

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        """Store a blob read from `opener()` (called again for a retry); refuse it unless it matches.
        `mount_from` names other repositories of the same registry that may already hold it."""
        ...

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None: ...

    def resolve(self, version: str) -> Descriptor: ...

    def find(self, version: str) -> Descriptor | None:
        """resolve(), but None when the tag or digest is unknown."""
        ...


@runtime_checkable
class ReferrerLister(Protocol):
    """A storage that indexes manifests by their `subject` (a registry with the OCI 1.1 referrers API,
    an OCI layout, memory). Elsewhere referrers are listed in the fallback index tagged `sha256-<hex>`."""

    def list_referrers(self, digest: str) -> list[Descriptor] | None:
        """The manifests whose subject is `digest`; None where this storage turns out not to index them
        (a registry without the referrers API)."""
        ...

    def push_referrer(self, desc: Descriptor, data: bytes) -> bool:
        """Push a manifest that has a subject; whether the storage indexed it by that subject."""
        ...


@runtime_checkable
class TagLister(Protocol):
    def tags(self) -> list[str]:
        """Every tag, in the storage's order."""
        ...

    def has_tags(self) -> bool:
        """Whether there is any tag (one short request, where listing them all could take many)."""
        ...


@runtime_checkable
class TagListNote(Protocol):
    """A storage whose tag list may come from another endpoint than its origin (a registries.conf mirror)."""

    def tag_list_note(self) -> str | None:
        """What a reader of the last tag list must be told when a mirror listed it (perhaps fewer tags
        than the origin has); None when the origin did."""
        ...


@runtime_checkable
class Deleter(Protocol):
    def delete_manifest(self, digest: str) -> None:
        """Delete a manifest (with every tag naming it, where the storage cannot untag)."""
        ...

    def untag(self, tag: str) -> bool:
        """Remove a tag alone, leaving its manifest; False where the storage cannot."""
        ...


class RepositoryStorage(Storage, TagLister, ReferrerLister, Deleter, Protocol):
    """Everything a registry repository can do (not `modelpack.Repository`, a catalog's entry)."""

    name: str  # the repository path, without the registry host


class RemoteRepository(RepositoryStorage, Protocol):
    """A registry repository as `modelpack.remote()` returns it: closing it (or leaving its `with` block)
    closes the connections and transfer thread `remote()` opened for it."""

    def close(self) -> None:
        """Close what was opened for this repository alone (options the caller passed stay open)."""
        ...

    def __enter__(self) -> RemoteRepository:
        ...

    def __exit__(self, *exc: object) -> None:
        ...
