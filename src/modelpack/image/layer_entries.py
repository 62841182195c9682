"""The entries of an image layer's tar, read as cheaply as its packing allows: what is in a (possibly
GBs large) layer, for a check that needs the names and a few first bytes, not the files.

- A layer the local store holds: hashed whole there (a corrupt copy is removed, and the registry's read),
  then read without hashing it again, an uncompressed one by seeking past each member's data.
- A gzip or zstd tar cannot be seeked: it is streamed and decompressed, headers read and data dropped,
  so it costs its (compressed) size in download; it is verified against its digest as it passes. So is an
  uncompressed one of at most WHOLE_AT_MOST bytes (reading it by ranges would save little), and every one
  when the caller asks for layers read whole (`LayerReading.whole`).
- A larger uncompressed tar, from a registry that serves byte ranges: its headers only, each member's data
  skipped (the next header's offset follows from the member's size), through `RangedBlobFile`: a 5 GB
  layer of a few files costs a request and some KiB per file. Not verified against the digest (a part of
  a blob cannot be): the headers are what the registry served, which may not be what it serves a pod that
  pulls the layer whole. Such layers are listed (`LayerReading.ranged`), for the caller to say so.
- An uncompressed tar from a registry that does not serve ranges (it answered the first with the whole
  blob, closed unread): streamed like a compressed one when it is at most STREAM_AT_MOST bytes; a larger
  one raises CostlyLayer (as do more range requests than the caller allows), for the caller to decide.

Every way is bounded by ArchiveLimits (entries, unpacked bytes), paths of at most MAX_PATH_BYTES and a header
never seen twice (none is kept once yielded), and refuses a header a container runtime would read otherwise
(see tar_agreement).
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelpack.archives import ArchiveLimits, _corrupt_stream_refused, _packing
from modelpack.compression import decompressing
from modelpack.errors import IntegrityError
from modelpack.image.tar_agreement import AgreedTarInfo, Disagreement
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.digest import Verifier
from modelpack.space import size_text
from modelpack.store.blob_file import RangedBlobFile, Requests, TooManyRequests
from modelpack.store.blobstream import RangesIgnored
from modelpack.store.target import BlobReader, SpanReader
from modelpack.streams import ByteStream

STREAM_AT_MOST = 64 * 1024 * 1024
# A path longer than Linux's PATH_MAX is no file a container runtime can write (ENAMETOOLONG), while tarfile
# takes a GNU long name or PAX path up to 1 MiB: kept for each entry, a small gzip layer would cost GBs.
MAX_PATH_BYTES = 4096
WHOLE_AT_MOST = 16 * 1024 * 1024  # (a ranged read of a tar of small files fetches about its size anyway)

# Whether a member's first bytes are wanted (its normalized name, relative to /, and its header).
WantsHead = Callable[[str, tarfile.TarInfo], bool]


class CostlyLayer(Exception):
    """A layer's entries could be read only by downloading much more of it than its headers."""


class LocalBlobs(BlobReader, Protocol):
    def has_blob(self, desc: Descriptor) -> bool: ...

    def verify_blob(self, desc: Descriptor) -> None:
        """Hash the blob; a corrupt one is removed and IntegrityError raised."""


@dataclass
class LayerReading:
    """How the layers of one image are read, and which were read by ranges.

    Attributes:
        requests: the range requests the headers of all of them may take.
        whole: read every layer whole, verified against its digest, never by ranges.
        local: where a layer is read from (verified) when it holds it, instead of the registry.
        ranged: the layers read by their headers through ranges: what the check saw of them is not bound
            to their digests.
    """

    requests: Requests
    whole: bool = False
    local: LocalBlobs | None = None
    ranged: list[Descriptor] = field(default_factory=list)


def layer_entries(repo: BlobReader, layer: Descriptor, limits: ArchiveLimits, reading: LayerReading,
                  wants_head: WantsHead, head_bytes: int) -> Iterator[tuple[str, tarfile.TarInfo, bytes]]:
    """Each entry of a layer's tar: its normalized name (relative to /), its header, and its first
    `head_bytes` bytes where `wants_head` asks (else b"").

    Args:
        repo: where the layer is.
        layer: the layer.
        limits: entry count and size caps.
        reading: how (shared by the layers of one image); a layer read by ranges is added to its `ranged`.
        wants_head: whether an entry's first bytes are wanted.
        head_bytes: how many.

    Returns:
        The entries, in the tar's order.

    Raises:
        CostlyLayer: an uncompressed layer the registry will not serve in ranges is over STREAM_AT_MOST
            bytes (unless read whole), or reading its headers would take more range requests than allowed.
        IntegrityError: the layer is not a readable tar, crosses a limit, revisits a header, has a header
            Python and a container runtime read differently (see tar_agreement), or (streamed) does not
            match its digest.
        TransportError, RegistryError: from the registry (a range answered short, again and again).
    """
    try:
        yield from _read_entries(repo, layer, limits, reading, wants_head, head_bytes)
    except Disagreement as exc:
        raise IntegrityError(f"refused layer {layer.digest}: {exc}") from None


def _read_entries(repo: BlobReader, layer: Descriptor, limits: ArchiveLimits, reading: LayerReading,
                  wants_head: WantsHead, head_bytes: int) -> Iterator[tuple[str, tarfile.TarInfo, bytes]]:
    parsed = mt.parse_layer_media_type(layer.media_type)
    packing = parsed[1] if parsed else _packing(layer.media_type)
    local = reading.local
    if local is not None and _verified_locally(local, layer):
        yield from _stored_entries(local, layer, packing, limits, wants_head, head_bytes)
        return
    if packing == "tar" and isinstance(repo, SpanReader) and not reading.whole and layer.size > WHOLE_AT_MOST:
        span = repo
        try:
            try:
                ranged = RangedBlobFile(lambda start, end: span.open_blob_range(layer, start, end), layer.size,
                                        reading.requests)
                with _corrupt_stream_refused(layer):
                    # (reads the first header: a registry that ignores ranges says so here, before any entry)
                    tar = tarfile.open(fileobj=ranged, mode="r:", tarinfo=AgreedTarInfo)  # noqa: SIM115 - closed by _entries
            except RangesIgnored as exc:
                if layer.size > STREAM_AT_MOST:
                    raise CostlyLayer(f"{_named(layer)} would be downloaded whole (its registry does not serve "
                                      f"byte ranges: {exc})") from None
            else:
                reading.ranged.append(layer)
                yield from _entries(tar, layer, limits, wants_head, head_bytes)
                return
        except TooManyRequests as exc:
            raise CostlyLayer(f"reading the headers of {_named(layer)} would take {exc}") from None
    with repo.open_blob(layer) as blob:
        verified = _Verified(blob, layer)
        with _corrupt_stream_refused(layer):
            stream: Any = decompressing(verified, packing)  # type: ignore[arg-type]
            tar = tarfile.open(fileobj=stream, mode="r|", tarinfo=AgreedTarInfo)  # noqa: SIM115 - as above
            yield from _entries(tar, layer, limits, wants_head, head_bytes)
        verified.finish()


def _entries(tar: tarfile.TarFile, layer: Descriptor, limits: ArchiveLimits, wants_head: WantsHead,
             head_bytes: int) -> Iterator[tuple[str, tarfile.TarInfo, bytes]]:
    max_bytes, entries, unpacked, last = limits.max_bytes(layer.size), 0, 0, -1
    with tar, _corrupt_stream_refused(layer):
        for member in tar:
            entries, unpacked = entries + 1, unpacked + max(member.size, 0)
            if entries > limits.max_entries or unpacked > max_bytes:
                raise IntegrityError(f"refused layer {layer.digest}: more than {limits.max_entries} entries or "
                                     f"{max_bytes} bytes unpacked")
            if member.offset <= last or member.size < 0:  # a header leading back to one read before
                raise IntegrityError(f"refused layer {layer.digest}: a tar header at {member.offset} "
                                     "leads back into the archive")
            last = member.offset
            longest = max(len(member.name.encode("utf-8", "surrogateescape")),
                          len(member.linkname.encode("utf-8", "surrogateescape")))
            if longest > MAX_PATH_BYTES:
                raise IntegrityError(f"refused layer {layer.digest}: a tar entry names a path of {longest} bytes, "
                                     f"longer than a container runtime can write ({MAX_PATH_BYTES})")
            # tarfile keeps every header it read (in `members`, no typed API): the caller keeps what it needs.
            tar.members.clear()  # type: ignore[attr-defined]
            name = posixpath.normpath("/" + member.name).lstrip("/")
            head = b""
            if member.isfile() and wants_head(name, member):
                reader = tar.extractfile(member)
                head = reader.read(head_bytes) if reader is not None else b""
            yield name, member, head


def _stored_entries(local: LocalBlobs, layer: Descriptor, packing: str, limits: ArchiveLimits, wants_head: WantsHead,
                    head_bytes: int) -> Iterator[tuple[str, tarfile.TarInfo, bytes]]:
    """A layer the local store holds, verified whole just before: read without hashing it again (a 5 GB layer
    read twice), an uncompressed one by seeking past each member's data, as the ranged reading does."""
    with local.open_blob(layer) as blob, _corrupt_stream_refused(layer):
        if packing == "tar" and blob.seekable():
            tar = tarfile.open(fileobj=blob, mode="r:", tarinfo=AgreedTarInfo)  # noqa: SIM115 - closed by _entries
        else:
            stream: Any = decompressing(blob, packing)
            tar = tarfile.open(fileobj=stream, mode="r|", tarinfo=AgreedTarInfo)  # noqa: SIM115 - as above
        yield from _entries(tar, layer, limits, wants_head, head_bytes)


def _verified_locally(local: LocalBlobs, layer: Descriptor) -> bool:
    """Whether `local` holds the layer, intact (a corrupt copy is removed: the registry's is read)."""
    if not local.has_blob(layer):
        return False
    try:
        local.verify_blob(layer)
    except IntegrityError:
        return False
    return True


def _named(layer: Descriptor) -> str:
    return f"its {size_text(layer.size)} layer {layer.digest}"


class _Verified:
    """The layer's bytes as they are read, hashed; `finish` reads the rest (past the tar's end) and checks
    the digest."""

    def __init__(self, stream: ByteStream, layer: Descriptor) -> None:
        self._stream = stream
        self._verifier = Verifier(layer.digest, layer.size)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """At most `size` bytes (at most 1 MiB when not given: callers loop)."""
        data = self._stream.read(size if size is not None and size >= 0 else 1 << 20)
        self._verifier.update(data)
        return data

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)

    def finish(self) -> None:
        while self.read(1 << 20):
            pass
        self._verifier.verify()
