"""Reproducible tar streams: sorted entries, fixed owner and mtime, produced in constant memory."""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator

from modelpack.packing.reading import changed, check_unchanged, open_source
from modelpack.packing.select import SourceFile

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
CHUNK = 1024 * 1024


def tar_chunks(files: Iterable[SourceFile], mtime: int) -> Iterator[bytes]:
    """The bytes of a PAX tar of `files` (already sorted). Headers are written by hand rather than with
    TarFile.addfile so a large member streams through in CHUNK pieces instead of being buffered."""
    total = 0
    for item in files:
        info = tarfile.TarInfo(item.relpath + ("/" if item.is_dir else ""))
        info.type = tarfile.DIRTYPE if item.is_dir else tarfile.REGTYPE
        info.mode = 0o755 if item.is_dir else item.mode
        info.size = 0 if item.is_dir else item.size
        info.mtime = mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        total += len(header)
        yield header
        if item.is_dir:
            continue
        written = 0
        with open_source(item) as f:
            while written < item.size and (chunk := f.read(min(CHUNK, item.size - written))):
                written += len(chunk)
                yield chunk
            grew = bool(f.read(1))
        if written != item.size or grew:
            raise changed(item.relpath)
        check_unchanged(item)  # the same size, other bytes: the layer would not be its digest
        total += written
        pad = -written % BLOCK
        if pad:
            total += pad
            yield b"\0" * pad
    end = b"\0" * (2 * BLOCK)
    total += len(end)
    yield end
    # Pad to a whole record, as tar(1) and Python's tarfile do; always the last piece (see `unpadded`).
    yield b"\0" * (-total % RECORD)

