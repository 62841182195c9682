"""Which large files of a new version changed, told before hashing them: a few windows of each file
against the blobs of the same size the version pushed from has.

A fine-tuned checkpoint usually keeps its predecessor's file names and sizes, so size alone cannot tell
a changed shard from an unchanged one. Hashing it first to find out reads it twice when it changed (once
to hash, once to upload); comparing three 64 KiB windows with the registry's blob tells most changed
shards at once, so their upload can start now and hash what it sends (one read). A file whose windows
all match (or that cannot be compared: a registry that does not serve ranges, an error) is treated as
before: hashed first, then uploaded only if the registry lacks it. Nothing here decides what is pushed,
only how many times a file is read.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable

from modelpack.errors import ModelpackError
from modelpack.oci.descriptor import Descriptor
from modelpack.packing.select import LayerSource
from modelpack.store.target import RangeReader
from modelpack.streams import read_at_most
from modelpack.threads import map_in_workers

WINDOW = 64 * 1024
QUARTERS = (1, 2, 3)  # past a checkpoint's header (tensor names and shapes), which fine-tuning keeps
WORKERS = 8
MAX_BLOBS = 4  # of one size to compare with: a manifest naming thousands would cost thousands of requests


def changed_files(dst: object, base_layers: Iterable[Descriptor], sources: list[LayerSource]) -> set[str]:
    """The relpaths of `sources` whose bytes differ, in sampled windows, from every blob of `base_layers`
    of their size (none such, or more than MAX_BLOBS: not changed, as far as this can tell; see the
    module's docstring).

    Args:
        dst: the repository pushed to (compared only if it serves byte ranges: `RangeReader`).
        base_layers: the layers of the version pushed from.
        sources: single-file sources, each of a size some base layer has.

    Returns:
        Those known to differ.
    """
    if not isinstance(dst, RangeReader) or not sources:
        return set()
    by_size: dict[int, list[Descriptor]] = defaultdict(list)
    for layer in base_layers:
        by_size[layer.size].append(layer)

    def differs(source: LayerSource) -> bool:
        size = source.files[0].size
        if size < 4 * WINDOW or not 0 < len(by_size.get(size, ())) <= MAX_BLOBS:
            return False
        offsets = [size * q // 4 for q in QUARTERS]
        try:
            with open(source.files[0].path, "rb") as file:
                ours = [os.pread(file.fileno(), WINDOW, offset) for offset in offsets]
            return all(any(_window(dst, blob, offset) != mine for offset, mine in zip(offsets, ours, strict=True))
                       for blob in by_size[size])
        except (ModelpackError, OSError, ValueError):
            return False  # cannot tell: hashed first, as any file of a known size

    verdicts = map_in_workers(differs, sources, min(WORKERS, len(sources)), "modelpack-compare")
    return {source.relpath for source, changed in zip(sources, verdicts, strict=True) if changed}


def _window(dst: RangeReader, blob: Descriptor, offset: int) -> bytes:
    """WINDOW bytes of `blob` from `offset` (fewer at its end), as the registry serves them."""
    stream = dst.open_blob_from(blob, offset)
    try:
        return read_at_most(stream, WINDOW - 1)  # (at most `limit` + 1 bytes: WINDOW)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
