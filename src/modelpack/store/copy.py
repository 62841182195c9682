"""The one graph walk: push, pull and registry-to-registry copy all move content with `copy()`.

Children go before parents (blobs, then the manifest, the tag last); a manifest the destination
already has is not walked at all, a blob it already has is skipped, and blobs move in parallel under a
bound. Every blob is verified where it lands: the layout store checks digests on ingest, a registry
checks them on upload.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError, wait
from dataclasses import replace
from typing import Any

from modelpack.advice import compose
from modelpack.errors import TransportError, UsageError
from modelpack.oci.descriptor import Descriptor, Index
from modelpack.store.copy_options import CopyOptions as CopyOptions
from modelpack.store.copy_options import CopyResult as CopyResult
from modelpack.store.copy_options import default_workers
from modelpack.store.graph import Graph, unique
from modelpack.store.ranged import validate_range_connections
from modelpack.store.target import BlobOpener, Opener, ReadableStorage, SpeculationFailed, Storage
from modelpack.store.upload import hashed_size_checked
from modelpack.threads import worker_pool

QUICK_MAX = 1024 * 1024  # blobs this small may go up as callbacks on the curl engine (see quick_upload)


def copy(
    src: ReadableStorage,
    dst: Storage,
    version: str,
    tag: str | None = None,
    options: CopyOptions | None = None,
    fetched: tuple[Descriptor, bytes] | None = None,
) -> CopyResult:
    """Copy the manifest named `version` (tag or digest) in `src`, and all it references, to `dst`;
    then point `tag` at it (if given). `fetched`: the manifest's descriptor and bytes, when the
    caller has already fetched (and so verified) them."""
    # A source that collects garbage (the local store) keeps what is read from it until the copy ends.
    reading = getattr(src, "reading", None)
    with reading() if reading is not None else contextlib.nullcontext():
        return _copy(src, dst, version, tag, options or CopyOptions(), fetched)


def _copy(src: ReadableStorage, dst: Storage, version: str, tag: str | None, options: CopyOptions,
          fetched: tuple[Descriptor, bytes] | None) -> CopyResult:
    root, data = fetched if fetched is not None else src.fetch_manifest(version)
    if options.on_root:
        options.on_root(root)
    result = CopyResult(root)
    graph = Graph.walk(src, root, data, options.layer_filter)
    if options.layer_filter is not None and graph.layers and not graph.taken:
        named = getattr(options.layer_filter, "wording", None)  # a LayerSelection names itself in both terms
        raise UsageError(compose("{} matches none of the {} layers of {}; nothing was fetched",
                                 named() if callable(named) else str(options.layer_filter), str(graph.layers),
                                 root.digest))
    result.blobs.extend(graph.blobs)
    result.manifests.extend(graph.nodes)
    if tag is not None:
        current = dst.find(tag)
        if current is not None and current.digest == root.digest:
            result.skipped.extend(result.blobs)
            result.written = False
            return result  # nothing to send: an unchanged model costs one HEAD
    # A store that collects garbage is told a copy into it runs until the tag names the content.
    writing = getattr(dst, "writing", None)
    with writing() if writing is not None else contextlib.nullcontext():
        if dst.has_manifest(root):
            result.skipped.extend(result.blobs)
        else:
            prepare = getattr(dst, "prepare_blobs", None)
            if prepare is not None:  # e.g. the local store refuses early what cannot fit on its disk
                prepare(result.blobs)
            _copy_node(src, dst, graph, root.digest, options, result, set())
        dst.push_manifest(root, data, tag)
    return result


def _copy_node(src: ReadableStorage, dst: Storage, graph: Graph, digest: str, options: CopyOptions,
               result: CopyResult, done: set[str]) -> None:
    """Children before parents, each node once (recursion depth is bounded by the walk's depth cap)."""
    node = graph.nodes[digest][2]
    if isinstance(node, Index):
        for child in node.manifests:
            if child.digest in done:
                continue
            done.add(child.digest)
            child_desc, child_data, _ = graph.nodes[child.digest]
            if not dst.has_manifest(child_desc):
                _copy_node(src, dst, graph, child.digest, options, result, done)
                dst.push_manifest(child_desc, child_data, None)
        return
    _copy_blobs(src, dst, unique(graph.node_blobs(node)), options, result)


def _copy_blobs(src: ReadableStorage, dst: Storage, blobs: list[Descriptor], options: CopyOptions,
                result: CopyResult) -> None:
    # Largest first, so one big weight file does not start last and leave a core idle at the end.
    if not options.workers:
        options = replace(options, workers=default_workers(blobs))
    with BlobPipeline(dst, options, also_cancel=src) as pipeline:
        for blob in sorted(blobs, key=lambda d: d.size, reverse=True):
            pipeline.submit(blob, _opener(src, blob))
    result.copied.extend(pipeline.copied)
    result.skipped.extend(pipeline.skipped)
    result.mounted.extend(b for b in pipeline.copied if b.digest in getattr(dst, "mounted", ()))


def _opener(src: ReadableStorage, blob: Descriptor) -> Opener:
    return BlobOpener(src, blob)


class BlobPipeline:
    """Moves blobs to `dst` on a bounded pool as they are submitted: skipped when `dst` has them (or
    `options.present` says so), mounted when a candidate repository may hold them, uploaded otherwise.
    A push of a directory submits each file as soon as it is hashed, so uploads overlap hashing."""

    def __init__(self, dst: Storage, options: CopyOptions, also_cancel: object = None) -> None:
        self.dst = dst
        self.options = options
        # Ends that can abandon their waits to retry (registries): told when the pipeline fails.
        ends = (dst, also_cancel)
        self._cancel = [c for c in (getattr(end, "cancel", None) for end in ends) if callable(c)]
        self._resume = [r for r in (getattr(end, "resume", None) for end in ends) if callable(r)]
        uploads = getattr(dst, "cancel_uploads", None)  # a registry: its upload sessions left open
        self._cancel_uploads = uploads if callable(uploads) else None
        self.copied: list[Descriptor] = []
        self.skipped: list[Descriptor] = []
        self._lock = threading.Lock()
        # Jobs a worker has begun and not ended. A Ctrl-C inside `submit` can land after the pool started
        # the job's thread and before the job's future was returned (and tracked): waiting on the futures
        # alone, the exit then let the clients resume while that worker went on to sit out a registry's
        # Retry-After for a minute (test_pull_files, about 1 run in 7). Counted by the worker itself.
        self._running = 0
        self._ended = threading.Condition(self._lock)
        self._failed = threading.Event()
        self._first: BaseException | None = None  # what failed first (the others may only be its cancellation)
        self._pool = worker_pool(max(1, options.workers or default_workers()))
        validate_range_connections()  # as MODELPACK_CONCURRENCY is, just above
        # Jobs not yet done well (pending, failed or cancelled): one that succeeded is let go, not kept
        # until the end (a Future holds a condition and a lock: ~1 KB each, for every blob of a push).
        self._futures: dict[Future[None], None] = {}
        # Digests already submitted: files of equal bytes (a dataset's empty or repeated files) are one
        # blob, sent once, not once per path.
        self._submitted: set[str] = set()
        self._hashing: list[Future[str]] = []  # digests uploads compute (submit_unhashed's `hashing`)
        self._quick: Any = None  # the destination's quick uploads, once a blob used them
        self._source = also_cancel  # the source, when it can fetch small blobs as callbacks
        self._fetches: Any = None  # the source's quick fetches, once a blob used them

    def submit(self, blob: Descriptor, opener: Opener) -> None:
        with self._lock:
            if blob.digest in self._submitted:
                return
            self._submitted.add(blob.digest)
        if blob.digest in self.options.present:  # nothing to ask or send: no need for a worker
            self._finished(blob, skipped=True)
            return
        quick = self._quick_for(blob)
        fetch = self._fetch_for(blob) if quick is None else None
        if quick is None and fetch is None:
            self._start(self._move, blob, opener)
            return
        if fetch is not None and self.dst.has_blob(blob):  # (a local check: `pull -o --force` of equal files)
            self._finished(blob, skipped=True)
            return
        if self.options.on_blob_start:
            self.options.on_blob_start(blob)

        def done(ok: bool) -> None:
            if ok:
                if self.options.progress:
                    self.options.progress(blob.size)
                self._finished(blob, skipped=False)
            elif not self._failed.is_set():  # handed back: a worker moves it the ordinary way
                self._start(self._move, blob, opener, True)

        if quick is not None:
            quick.start(blob, opener, done)
        elif fetch is not None:
            accept: Any = self.dst
            fetch.start(blob, accept.accept_bytes, done)

    def _quick_for(self, blob: Descriptor) -> Any:
        """The destination's quick uploads (see quick_upload), for a small blob sent without asking
        first and without a mount to try; else None."""
        quick = getattr(self.dst, "quick_uploads", None)
        if quick is None or self._failed.is_set() or blob.size >= self.options.unasked_below \
                or blob.size > QUICK_MAX or (self.options.mount_candidates and self.options.mount_candidates(blob)):
            return None
        if self._quick is None:
            self._quick = quick()
        return self._quick

    def _fetch_for(self, blob: Descriptor) -> Any:
        """The source's quick fetches (see quick_fetch), for a small blob a destination takes as bytes
        (`accept_bytes`: a directory being pulled into); else None."""
        fetches = getattr(self._source, "quick_fetches", None)
        wants = getattr(self.dst, "wants_bytes", None)
        if fetches is None or wants is None or self._failed.is_set() or blob.size > QUICK_MAX or not wants(blob):
            return None
        found = fetches()
        if found is not None:
            self._fetches = found
        return found

    def submit_unhashed(self, media_type: str, size: int, opener: Opener, digest: Future[str],
                        hashing: bool = False) -> bool:
        """Start moving a blob whose digest is still being computed, where the destination can take
        a blob that way (`push_blob_speculative`); False when it cannot (submit it once hashed). With
        `hashing`, the upload computes the digest from the bytes it sends and sets `digest` (always: from
        the file itself when the registry refused the streamed upload, or the failure that stopped it)."""
        speculate = getattr(self.dst, "push_blob_speculative", None)
        if speculate is None:
            return False
        # Two files of equal bytes both start uploading before either digest is known: the one whose
        # digest arrives second (or matches a blob already submitted) abandons its upload.
        duplicate = threading.Event()

        def claim(done: Future[str]) -> None:
            if done.exception() is not None:
                return
            with self._lock:
                if done.result() in self._submitted:
                    duplicate.set()
                else:
                    self._submitted.add(done.result())

        if hashing:
            self._hashing.append(digest)  # resolved with the pipeline's failure if it stops first
            digest.add_done_callback(self._sent_whole)
        else:
            digest.add_done_callback(claim)

        def job() -> None:
            if self._failed.is_set():
                return
            if duplicate.is_set():  # hashed before a worker was free: nothing to start
                self._finished(Descriptor(mediaType=media_type, digest=digest.result(), size=size), skipped=True)
                return
            try:
                if self.options.on_blob_start:
                    self.options.on_blob_start(Descriptor(mediaType=media_type, digest=_PENDING, size=size))
                try:
                    uploaded = speculate(size, opener, digest, self.options.progress, duplicate, hashing)
                except SpeculationFailed:
                    if hashing and not digest.done():
                        digest.set_result(hashed_size_checked(opener, size))
                    blob = Descriptor(mediaType=media_type, digest=digest.result(), size=size)
                    self._move(blob, opener, announced=True)
                    return
            except BaseException as exc:
                self._abandon(exc)
                raise
            self._finished(Descriptor(mediaType=media_type, digest=digest.result(), size=size), skipped=not uploaded)

        self._start(job)
        return True

    def _sent_whole(self, digest: Future[str]) -> None:
        # An upload hashed its file: an equal file submitted later is that blob, not sent again.
        if digest.exception() is None:
            with self._lock:
                self._submitted.add(digest.result())

    def _track(self, future: Future[None]) -> None:
        with self._lock:
            self._futures[future] = None
        future.add_done_callback(self._settled)

    def _settled(self, future: Future[None]) -> None:
        if not future.cancelled() and future.exception() is None:
            with self._lock:
                self._futures.pop(future, None)

    def _start(self, job: Callable[..., None], *args: Any) -> None:
        """Run `job(*args)` on a worker, counted as running while it does (see `_running`)."""
        self._track(self._pool.submit(self._counted, job, *args))

    def _counted(self, job: Callable[..., None], *args: Any) -> None:
        with self._lock:
            self._running += 1
        try:
            if not self._failed.is_set():  # (looked at once counted: an exit that saw none running had set it)
                job(*args)
        finally:
            with self._lock:
                self._running -= 1
                self._ended.notify_all()

    def _move(self, blob: Descriptor, opener: Opener, announced: bool = False) -> None:
        if self._failed.is_set():
            return
        try:
            present = blob.digest in self.options.present or (
                blob.size >= self.options.unasked_below and self.dst.has_blob(blob))
            if not present:
                if self.options.on_blob_start and not announced:
                    self.options.on_blob_start(blob)
                mount_from = self.options.mount_candidates(blob) if self.options.mount_candidates else ()
                self.dst.push_blob(blob, opener, self.options.progress, mount_from)
                present = blob.digest in getattr(self.dst, "arrived", ())  # another process stored it
        except BaseException as exc:
            self._abandon(exc)  # queued blobs are not started; running downloads stop at their next read
            raise
        self._finished(blob, skipped=present)

    def _finished(self, blob: Descriptor, skipped: bool) -> None:
        """Count a blob as skipped or copied, and tell `on_blob_done`."""
        with self._lock:
            (self.skipped if skipped else self.copied).append(blob)
        if self.options.on_blob_done:
            self.options.on_blob_done(blob, skipped)

    def _abandon(self, exc: BaseException | None = None) -> None:
        """Start no more blobs, and let a worker waiting to retry give up now, not after its back-off."""
        with self._lock:
            if self._first is None and exc is not None:
                self._first = exc
        self._failed.set()
        for cancel in self._cancel:
            cancel()
        for digest in self._hashing:  # a file an upload was to hash: whoever waits for it stops too
            with contextlib.suppress(InvalidStateError):
                digest.set_exception(self._first or TransportError("the push stopped"))

    def __enter__(self) -> BlobPipeline:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self._abandon()
        try:
            for transfers in (self._quick, self._fetches):
                if transfers is not None:
                    transfers.wait()  # every hand-back to the pool is made before it shuts down
            self._wait_for_workers(cancel=exc_type is not None)
        except BaseException:  # Ctrl-C while waiting for the transfers or the workers: a worker waiting
            self._abandon()    # out a registry's Retry-After must stop now, or the exit waits for it
            # A further signal ends this wait too (`timeout` sends SIGTERM to the command, then to its
            # group): the clients then stay cancelled, so the workers stop at their next read. Resumed,
            # they went on fetching the whole model while the exit waited for them.
            self._wait_for_workers(cancel=True)
            self._resume_clients()
            self._end_uploads()
            raise
        self._resume_clients()
        self._end_uploads()
        if exc_type is None:
            if self._first is not None:
                raise self._first  # the cause, not the cancellations it caused
            with self._lock:
                unsettled = list(self._futures)
            for future in unsettled:
                future.result()  # the first failure, if any, is raised here

    def _end_uploads(self) -> None:
        """A failed or interrupted pipeline cancels the upload sessions its workers left open (bounded: see
        upload_sessions), once they have all stopped; a second Ctrl-C meanwhile ends the wait."""
        if self._failed.is_set() and self._cancel_uploads is not None:
            self._cancel_uploads()

    def _resume_clients(self) -> None:
        """Every worker is done: a shared client serves the next transfer."""
        for resume in self._resume:
            resume()

    def _wait_for_workers(self, cancel: bool) -> None:
        """Shut the pool down once every job has ended (the queued ones first cancelled if `cancel`).
        Waits on the jobs, not on the threads: before 3.13, Python takes a `Thread.join` that Ctrl-C
        interrupted for the thread's end, so the second wait returned at once and the exit killed a worker
        mid-blob, its ingest file left in the store (every Ctrl-C'd pull of a large blob)."""
        self._pool.shutdown(wait=False, cancel_futures=cancel)
        with self._lock:  # a job the shutdown cancelled never counts as done for wait(): leave it out
            futures = [future for future in self._futures if not future.cancelled()]
        wait(futures)
        with self._lock:
            while self._running:
                self._ended.wait()
        self._pool.shutdown(wait=True)


_PENDING = "sha256:" + "0" * 64  # stands in for a digest still being computed (progress display only)
