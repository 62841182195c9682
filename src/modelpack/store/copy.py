"""The one graph walk: push, pull and registry-to-registry copy all move content with `copy()`.

Children go before parents (blobs, then the manifest, the tag last), a blob the destination already has
is skipped, and blobs move in parallel under a bound. Every blob is verified where it lands: the layout
store checks digests on ingest, a registry checks them on upload.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.store.target import Progress, ReadableTarget, Target


@dataclass
class CopyOptions:
    workers: int = 4
    on_blob_start: Callable[[Descriptor], None] | None = None
    on_blob_done: Callable[[Descriptor, bool], None] | None = None  # (descriptor, skipped)
    progress: Progress | None = None


@dataclass
class CopyResult:
    descriptor: Descriptor
    copied: list[Descriptor] = field(default_factory=list)
    skipped: list[Descriptor] = field(default_factory=list)

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
    _copy_node(src, dst, root, data, options, result)
    dst.push_manifest(root, data, tag)
    return result


def _copy_node(src: ReadableTarget, dst: Target, desc: Descriptor, data: bytes, options: CopyOptions,
               result: CopyResult) -> None:
    node = parse_manifest(data)
    if isinstance(node, Index):
        for child in node.manifests:
            child_desc, child_data = src.fetch_manifest(child.digest)
            _copy_node(src, dst, child_desc, child_data, options, result)
            dst.push_manifest(child_desc, child_data, None)
        return
    assert isinstance(node, Manifest)
    blobs = _unique([node.config, *node.layers])

    def move(blob: Descriptor) -> None:
        if dst.has_blob(blob):
            result.skipped.append(blob)
            if options.on_blob_done:
                options.on_blob_done(blob, True)
            return
        if options.on_blob_start:
            options.on_blob_start(blob)
        dst.push_blob(blob, lambda: src.open_blob(blob), options.progress)
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
        for future in [pool.submit(move, blob) for blob in ordered]:
            future.result()


def _unique(descs: list[Descriptor]) -> list[Descriptor]:
    seen: dict[str, Descriptor] = {}
    for desc in descs:
        seen.setdefault(desc.digest, desc)
    return list(seen.values())
