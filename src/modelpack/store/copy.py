"""The one graph walk: push, pull and registry-to-registry copy all move content with `copy()`.

Children go before parents (blobs, then the manifest, the tag last); a manifest the destination
already has is not walked at all, a blob it already has is skipped, and blobs move in parallel under a
bound. Every blob is verified where it lands: the layout store checks digests on ingest, a registry
checks them on upload.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.store.target import Progress, ReadableTarget, Target


@dataclass
class CopyOptions:
    workers: int = 4
    on_blob_start: Callable[[Descriptor], None] | None = None
    on_blob_done: Callable[[Descriptor, bool], None] | None = None  # (descriptor, skipped)
    progress: Progress | None = None
    # Other repositories of the destination registry that may hold a blob (cross-repository mount).
    mount_candidates: Callable[[Descriptor], Sequence[str]] | None = None


@dataclass
class CopyResult:
    descriptor: Descriptor
    copied: list[Descriptor] = field(default_factory=list)
    skipped: list[Descriptor] = field(default_factory=list)
    manifest_present: bool = False  # the destination already had the root manifest
    blobs: list[Descriptor] = field(default_factory=list)  # every blob of the graph, copied or not

    @property
    def bytes_copied(self) -> int:
        return sum(d.size for d in self.copied)


def copy(
    src: ReadableTarget,
    dst: Target,
    version: str,
    tag: str | None = None,
    options: CopyOptions | None = None,
) -> CopyResult:
    """Copy the manifest named `version` (tag or digest) in `src`, and all it references, to `dst`;
    then point `tag` at it (if given)."""
    options = options or CopyOptions()
    root, data = src.fetch_manifest(version)
    result = CopyResult(root)
    _collect_blobs(src, data, result)
    if tag is not None:
        current = dst.find(tag)
        if current is not None and current.digest == root.digest:
            result.manifest_present = True
            result.skipped.extend(result.blobs)
            return result  # nothing to send: an unchanged model costs one HEAD
    if dst.has_manifest(root):
        result.manifest_present = True
        result.skipped.extend(result.blobs)
    else:
        _copy_node(src, dst, data, options, result)
    dst.push_manifest(root, data, tag)
    return result


def _collect_blobs(src: ReadableTarget, data: bytes, result: CopyResult) -> None:
    node = parse_manifest(data)
    if isinstance(node, Index):
        for child in node.manifests:
            _collect_blobs(src, src.fetch_manifest(child.digest)[1], result)
    else:
        result.blobs.extend(_unique([node.config, *node.layers]))


def _copy_node(src: ReadableTarget, dst: Target, data: bytes, options: CopyOptions, result: CopyResult) -> None:
    node = parse_manifest(data)
    if isinstance(node, Index):
        for child in node.manifests:
            child_desc, child_data = src.fetch_manifest(child.digest)
            if not dst.has_manifest(child_desc):
                _copy_node(src, dst, child_data, options, result)
                dst.push_manifest(child_desc, child_data, None)
        return
    assert isinstance(node, Manifest)
    _copy_blobs(src, dst, _unique([node.config, *node.layers]), options, result)


def _copy_blobs(src: ReadableTarget, dst: Target, blobs: list[Descriptor], options: CopyOptions,
                result: CopyResult) -> None:
    lock = threading.Lock()
    cancelled = threading.Event()

    def move(blob: Descriptor) -> None:
        if cancelled.is_set():
            return
        if dst.has_blob(blob):
            with lock:
                result.skipped.append(blob)
            if options.on_blob_done:
                options.on_blob_done(blob, True)
            return
        if options.on_blob_start:
            options.on_blob_start(blob)
        mount_from = options.mount_candidates(blob) if options.mount_candidates else ()
        dst.push_blob(blob, lambda: src.open_blob(blob), options.progress, mount_from)
        with lock:
            result.copied.append(blob)
        if options.on_blob_done:
            options.on_blob_done(blob, False)

    if len(blobs) == 1 or options.workers <= 1:
        for blob in blobs:
            move(blob)
        return
    # Largest first, so one big weight file does not start last and leave a core idle at the end.
    ordered = sorted(blobs, key=lambda d: d.size, reverse=True)
    with ThreadPoolExecutor(max_workers=min(options.workers, len(ordered))) as pool:
        futures = [pool.submit(move, blob) for blob in ordered]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in done if f.exception() is not None), None)
        if failed is not None:
            cancelled.set()  # queued blobs are not started; running ones finish or fail on their own
            for future in futures:
                future.cancel()
            raise failed.exception()  # type: ignore[misc]


def _unique(descs: list[Descriptor]) -> list[Descriptor]:
    seen: dict[str, Descriptor] = {}
    for desc in descs:
        seen.setdefault(desc.digest, desc)
    return list(seen.values())
