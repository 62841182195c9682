"""Extracting a tar, tar+gzip or tar+zstd layer: only files and folders, each path checked, and bounded.

A layer's bytes are verified against its digest, but a verified archive can still be a bomb: 2 MiB of
gzip or zstd that unpacks to 2 GiB, or 200,000 entries. Extraction stops, before writing the entry that would
cross it, at a cap on the entry count and on the unpacked size (a ratio of the layer's size, with a
generous floor so small archives of compressible text always unpack); tar's own metadata records
(pax headers, GNU long names), which tarfile reads into memory whole, are capped too. The caps are
environment variables, for the rare model that needs more.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from modelpack.compression import decompressing
from modelpack.environment import env_int
from modelpack.errors import IntegrityError, UnsafePathError
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor
from modelpack.streams import ByteStream

ENV_MAX_ENTRIES = "MODELPACK_ARCHIVE_MAX_ENTRIES"
ENV_MAX_RATIO = "MODELPACK_ARCHIVE_MAX_RATIO"
ENV_MIN_BYTES = "MODELPACK_ARCHIVE_MIN_BYTES"
MAX_METADATA_BYTES = 1024 * 1024  # one pax header or GNU long name; real ones are a few hundred bytes
_GNU_SPARSE = tarfile.GNUTYPE_SPARSE
_MAX_TIME = 2.0 ** 40  # seconds: far past any clock, well inside time_t
_METADATA_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                   tarfile.GNUTYPE_LONGLINK)


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = 100_000
    max_ratio: int = 100  # unpacked bytes per byte of the layer
    min_bytes: int = 1 << 30  # every archive may unpack to this much, whatever its ratio

    @classmethod
    def from_env(cls) -> ArchiveLimits:
        """The defaults, each overridden by its environment variable."""
        default = cls()
        return cls(env_int(ENV_MAX_ENTRIES, default.max_entries), env_int(ENV_MAX_RATIO, default.max_ratio),
                   env_int(ENV_MIN_BYTES, default.min_bytes))

    def max_bytes(self, layer_size: int) -> int:
        return max(self.min_bytes, layer_size * self.max_ratio)


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads a pax header or GNU long name into memory in one piece: refuse a huge one first.
    A sparse file's map is read whole too, uncapped, from the entry's data (1.8 KiB of zstd held a map
    of 5 million ranges: +450 MiB), and a malformed one raised ValueError: sparse entries are refused
    before it is read (a model's files are never sparse)."""

    def _proc_member(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _METADATA_TYPES and self.size > MAX_METADATA_BYTES:
            raise IntegrityError(f"refused archive: a {self.size}-byte tar metadata record "
                                 f"(limit {MAX_METADATA_BYTES})")
        if self.type == _GNU_SPARSE:
            self._refuse_sparse()
        return super()._proc_member(tarfile)  # type: ignore[misc]

    def _refuse_sparse(self, member: tarfile.TarInfo | None = None, headers: object = None, *_: object) -> None:
        # (a pax header's own name is ././@PaxHeader: name the file it describes)
        pax = headers if isinstance(headers, dict) else {}
        name = pax.get("GNU.sparse.name") or pax.get("path") or (member or self).name
        raise IntegrityError(f"refused archive entry {str(name)[:200]!r}: sparse files are not unpacked")

    # tarfile's readers of the three pax sparse formats (0.0, 0.1, 1.0)
    _proc_gnusparse_00 = _proc_gnusparse_01 = _proc_gnusparse_10 = _refuse_sparse


def extract_archive(layer: Descriptor, open_blob: Callable[[Descriptor], ByteStream], root: Path,
                    place: Callable[[str], str], limits: ArchiveLimits | None = None,
                    umask: int = 0o022) -> list[str]:
    """Extract a tar layer under `root`; the paths of the files written.

    Args:
        layer: the layer (tar, tar+gzip or tar+zstd).
        open_blob: opens the layer's verified bytes.
        root: the directory to extract into.
        place: checks an entry's name and returns the relative path it is written at (raises
            UnsafePathError).
        limits: entry count and size caps (default: from the environment).
        umask: taken from each file's recorded mode, as tar run by a user does (folders are made with
            the umask's mode, as tar's "data" filter leaves them).

    Returns:
        The relative paths of the regular files extracted.

    Raises:
        UnsafePathError: an entry is a link, a device or FIFO, or its path is unsafe.
        IntegrityError: the archive crosses a limit (nothing past it is written), or its compressed
            stream is corrupt.
    """
    limits = limits or ArchiveLimits.from_env()
    parsed = mt.parse_layer_media_type(layer.media_type)
    packing = parsed[1] if parsed else _packing(layer.media_type)
    max_bytes = limits.max_bytes(layer.size)
    names: list[str] = []
    entries = unpacked = 0
    with open_blob(layer) as blob, _corrupt_stream_refused(layer):
        stream: Any = decompressing(blob, packing)
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo) as tar:
            for member in tar:
                entries += 1
                unpacked += member.size
                if entries > limits.max_entries:
                    raise IntegrityError(f"refused layer {layer.digest}: more than {limits.max_entries} archive "
                                         f"entries (limit {ENV_MAX_ENTRIES})")
                if unpacked > max_bytes:
                    raise IntegrityError(f"refused layer {layer.digest}: it unpacks to more than {max_bytes} bytes, "
                                         f"{limits.max_ratio} times its {layer.size} (limits {ENV_MAX_RATIO}, "
                                         f"{ENV_MIN_BYTES})")
                if member.isdir() and _names_top(member.name):
                    continue
                rel = place(member.name)
                if member.issym() or member.islnk():
                    raise UnsafePathError(f"refused archive entry {rel!r}: links are not unpacked")
                if not (member.isfile() or member.isdir()):
                    raise UnsafePathError(f"refused archive entry {rel!r}: not a regular file or folder")
                _refuse_written(root, rel, member)
                # the "data" filter also refuses absolute names and escapes, and drops setuid bits.
                try:
                    # at `rel`, the name as checked and listed: "d\\f" is d/f, as in a file layer's path
                    tar.extract(member, root, filter=lambda found, dest, rel=rel: _data_less_umask(
                        found.replace(name=rel, deep=False), dest, umask))
                except tarfile.FilterError as exc:
                    raise UnsafePathError(f"refused archive entry {rel!r}: {exc}") from None
                except (NotADirectoryError, FileExistsError):
                    raise UnsafePathError(f"refused archive entry {rel!r}: a folder of it is a file in this "
                                          "artifact") from None
                if member.isfile():
                    names.append(rel)
    return names


def _names_top(name: str) -> bool:
    """Whether an entry names the folder extracted into (`tar -C DIR .` records DIR itself as "./"): a
    folder entry of it writes nothing."""
    return name != "" and not name.startswith("/") and set(name.split("/")) <= {".", ""}


def _refuse_written(root: Path, rel: str, member: tarfile.TarInfo) -> None:
    """Refuse an entry whose place holds something already (only a folder may meet a folder): tarfile
    writes a file through whatever is there, and with --link that is a hard link to a store blob.

    Raises:
        UnsafePathError: `rel` was written already, by this layer or an earlier one.
    """
    target = os.path.join(root, rel)
    if os.path.lexists(target) and not (member.isdir() and os.path.isdir(target)):
        raise UnsafePathError(f"refused artifact: {rel!r} is written twice")


def _data_less_umask(member: tarfile.TarInfo, dest: str, umask: int) -> tarfile.TarInfo:
    """tar's "data" filter, then the umask off the mode it keeps (a file's; a folder's it drops), and no
    time that the clock cannot hold (NaN or 1e300 in a pax header failed the extraction)."""
    kept = tarfile.data_filter(member, dest)
    mode = kept.mode if kept.mode is None else kept.mode & ~umask
    mtime = kept.mtime if math.isfinite(kept.mtime) and abs(kept.mtime) < _MAX_TIME else None
    # (None leaves the time unset, as tarfile's own filters do; typeshed does not say so)
    return kept.replace(mode=mode, mtime=mtime, deep=False)  # type: ignore[arg-type]


def _packing(media_type: str) -> str:
    """The packing of a layer that is not ModelPack's (KitOps, oras): from its media type's suffix."""
    return "tar+zstd" if "zstd" in media_type else "tar+gzip" if "gzip" in media_type else "tar"


@contextlib.contextmanager
def _corrupt_stream_refused(layer: Descriptor) -> Iterator[None]:
    """A compressed stream that does not decompress (or a tar that does not parse) is refused as
    malformed content, naming the layer."""
    try:
        yield
    except (zstandard.ZstdError, OSError, EOFError, zlib.error, tarfile.ReadError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile):
            raise
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise IntegrityError(f"refused layer {layer.digest}: not a readable archive ({reason})") from None
