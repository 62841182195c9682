"""Compressed tar layers, both ways: a decompressing reader for `tar+gzip` and `tar+zstd` layers, and the
compressed byte stream of a tar for `files.compress` / `--compress`.

Both directions stream in constant memory. Writing is deterministic for one compressor version: gzip
gets a fixed header (no name, mtime 0, OS "unknown", as Python's gzip module writes) and level 6; zstd
level 3 with no checksum and no content size. The compressed bytes (so the digest) can differ between
versions of zlib or libzstd, which is why weights, whose digests should never move, stay raw.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import zstandard

from modelpack.oci.mediatypes import Compression

GZIP_LEVEL = 6
ZSTD_LEVEL = 3
# libzstd's own default limit for decompression (ZSTD_WINDOWLOG_LIMIT_DEFAULT): a frame asking for a
# larger window (so more memory) is refused rather than honoured.
ZSTD_MAX_WINDOW = 1 << 27
_GZIP_HEADER = b"\x1f\x8b\x08\x00" + b"\x00" * 4 + b"\x00\xff"


def decompressing(stream: BinaryIO, packing: str) -> Any:
    """A binary file object of `stream`'s decompressed bytes for a `tar+gzip` or `tar+zstd` layer;
    `stream` itself for a plain `tar`.

    Args:
        stream: the layer's (verified) bytes.
        packing: `tar`, `tar+gzip` or `tar+zstd`.

    Returns:
        An object with `read(size)`, decompressing as it is read (the caller bounds how much it reads).
    """
    if packing == "tar+gzip":
        import gzip

        return gzip.GzipFile(fileobj=stream)
    if packing == "tar+zstd":
        decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        return decompressor.stream_reader(stream, read_across_frames=True)
    return stream


def compressed(chunks: Iterable[bytes], compression: Compression) -> Iterator[bytes]:
    """The bytes of `chunks` compressed with gzip or zstd, produced as the chunks arrive.

    Args:
        chunks: the uncompressed stream (a tar's bytes).
        compression: `gzip` or `zstd`.

    Returns:
        The compressed stream, piece by piece (empty pieces left out).
    """
    if compression == "zstd":
        yield from _zstd(chunks)
    else:
        yield from _gzip(chunks)


def _gzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    crc = size = 0
    yield _GZIP_HEADER
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        if out := deflate.compress(chunk):
            yield out
    yield deflate.flush() + struct.pack("<II", crc, size & 0xFFFFFFFF)


def _zstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    params = zstandard.ZstdCompressionParameters.from_level(ZSTD_LEVEL, write_checksum=False,
                                                             write_content_size=False)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()
