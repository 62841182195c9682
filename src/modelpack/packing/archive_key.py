"""The hash-cache key of a folder packed as one tar layer (`files.archives`): a re-push of an unchanged
folder then reads none of its files, as one of unchanged single files does.

A folder's layer bytes follow from: each member's path in the layer, whether it is a folder, its mode,
size and content; the one mtime every entry is given (`layer_descriptor.tar_mtime`); the tar format `tar_chunks`
writes (and modelpack's code, see code_stamp: a change to the writer that forgot ARCHIVE_FORMAT still
keeps no older entry); and, compressed, the compressor, its version and level. Content is vouched for as the file
hash cache does (see hashcache): by what stat says (size, mtime_ns, ctime_ns, inode, device), taken by
the walk before any byte is read, so an edit made while the tar is read leaves an entry no later walk
matches. A member added, removed, renamed, re-linked, chmod'ed or touched changes the key.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import zlib
from collections.abc import Iterable

from modelpack.code_stamp import code_stamp
from modelpack.oci import mediatypes as mt
from modelpack.packing.hashcache import settled
from modelpack.packing.select import LayerSource, SourceFile

ARCHIVE_FORMAT = 1  # bump whenever tar_chunks or layer_chunks changes the bytes it writes


def archive_key(source: LayerSource, packing: mt.Packing, tar_mtime: int) -> tuple[str, str] | None:
    """The cache name and signature of a folder's layer.

    Args:
        source: the folder's layer, its members as the walk found them.
        packing: `tar`, `tar+gzip` or `tar+zstd`.
        tar_mtime: the mtime its entries are given.

    Returns:
        (name, signature), or None when a member carries no stat of a walk (nothing to vouch for it).
    """
    members = walked_signature(source.files)
    if not source.files or members is None:
        return None
    decides = [ARCHIVE_FORMAT, code_stamp(), packing, tar_mtime, _writer(packing)]
    signature = hashlib.sha256(json.dumps(decides).encode())
    signature.update(members)
    return f"archive:{source.files[0].path}", signature.hexdigest()


def walked_signature(files: Iterable[SourceFile]) -> bytes | None:
    """What the walk found of `files`, as bytes that change when any of them is added, removed, renamed,
    re-linked, chmod'ed, written to or touched: each one's path, where it is read, kind, mode, size and
    stat (see SourceFile.stamp). None when one carries no stat of a walk, or changed too recently to be
    vouched for (see hashcache.RACY_NS)."""
    now = time.time_ns()
    parts = []
    for f in files:
        if len(f.stamp) < 2 or not settled(f.stamp[1], now):
            return None
        # Fields end in NUL, which no path holds, so no two lists read the same (json.dumps per member cost
        # 1 s for 100,000 files).
        parts.append(f"{f.relpath}\0{f.path}\0{f.is_dir:d}\0{f.mode}\0{f.size}\0" + "\0".join(map(str, f.stamp))
                     + "\0\0")
    return "".join(parts).encode("utf-8", "surrogateescape")


def _writer(packing: mt.Packing) -> list[object]:
    """What else decides the bytes: Python's tarfile writes the headers; zlib or libzstd compress."""
    from modelpack.compression import GZIP_LEVEL, ZSTD_LEVEL

    python = list(sys.version_info[:2])
    if packing == "tar+gzip":
        return [python, "zlib", zlib.ZLIB_RUNTIME_VERSION, GZIP_LEVEL]
    if packing == "tar+zstd":
        import zstandard

        return [python, "zstd", zstandard.ZSTD_VERSION, ZSTD_LEVEL]
    return [python]
