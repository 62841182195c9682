"""How a transfer runs (`CopyOptions`), how many blobs move at once, and what it did (`CopyResult`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from modelpack.environment import env_int
from modelpack.oci.descriptor import Descriptor
from modelpack.store.target import Progress

MAX_WORKERS = 64  # more threads only add contention; a typo of 10000 would start that many
MANY_BLOBS, SMALL_BLOB = 64, 1024 * 1024  # more workers for at least this many blobs, half under this size


def default_workers(blobs: Sequence[Descriptor] = ()) -> int:
    """Concurrent blob transfers: MODELPACK_CONCURRENCY, else 4, or 8 for a graph of many small blobs
    (each small transfer is mostly waiting on the registry: measured ~10 % faster for 2,000 files of
    32 KiB, while more threads only slow large transfers down).

    Raises:
        UsageError: the variable is not a whole number from 1 to 64.
    """
    sizes = sorted(blob.size for blob in blobs)
    many_small = len(sizes) >= MANY_BLOBS and sizes[len(sizes) // 2] < SMALL_BLOB
    return env_int("MODELPACK_CONCURRENCY", 8 if many_small else 4, minimum=1, maximum=MAX_WORKERS)


@dataclass
class CopyOptions:
    """How a transfer runs (the `copy_options` of pack, push, pull and copy_model); the defaults work.

    `workers`: blobs moved at once (0: chosen for the blobs at hand, MODELPACK_CONCURRENCY); hooks, each
    called from a worker thread: `on_blob_start(descriptor)`, `on_blob_done(descriptor, skipped)`,
    `progress(n)` with each `n` bytes moved (a skipped blob counts whole), `on_root(descriptor)` once the
    model's manifest is known. The other fields are for modelpack's own use.
    """

    workers: int = 0  # 0: `default_workers` for the blobs at hand
    on_blob_start: Callable[[Descriptor], None] | None = None
    on_blob_done: Callable[[Descriptor, bool], None] | None = None  # (descriptor, skipped)
    progress: Progress | None = None
    # Other repositories of the destination registry that may hold a blob (cross-repository mount).
    mount_candidates: Callable[[Descriptor], Sequence[str]] | None = None
    # Digests already known to be in the destination: skipped without asking.
    present: frozenset[str] = frozenset()
    # Told the root manifest as soon as it is known, before any blob moves.
    on_root: Callable[[Descriptor], None] | None = None
    # Blobs smaller than this are sent without asking first whether the destination has them: set when
    # it is known to be new, where the answer is "no" and resending a small blob costs what asking does.
    unasked_below: int = 0
    # A partial transfer: only the layers this takes are moved (configs always are). Its wording() (else
    # its str()) names it in the error when it takes no layer at all (see selection.LayerSelection).
    layer_filter: Callable[[Descriptor], bool] | None = None


@dataclass
class CopyResult:
    descriptor: Descriptor
    copied: list[Descriptor] = field(default_factory=list)
    skipped: list[Descriptor] = field(default_factory=list)
    blobs: list[Descriptor] = field(default_factory=list)  # every blob of the graph, copied or not
    mounted: list[Descriptor] = field(default_factory=list)  # of `copied`: mounted by the registry, not sent
    manifests: list[str] = field(default_factory=list)  # the digest of every manifest of the graph, root first
    written: bool = True  # False: the tag named the root already, and nothing was sent (not even the tag)

    @property
    def bytes_copied(self) -> int:
        """Bytes sent: blobs a registry mounted from another of its repositories cost none."""
        mounted = {d.digest for d in self.mounted}
        return sum(d.size for d in self.copied if d.digest not in mounted)
