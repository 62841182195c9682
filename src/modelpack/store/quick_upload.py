"""Small blobs pushed with no worker waiting on them: the POST and then the PUT of the bytes run as
callbacks on the curl engine's thread.

A worker per blob that sends a request and waits, twice, costs a thread hand-off and our request code per
exchange; for a model of thousands of small files that, not the bytes, was most of our CPU (see README,
Performance). Here a blob costs two exchanges on the engine and two short callbacks. Only the expected
answers are handled: 202 with a Location, then 201. Anything else (a 401 before credentials are settled,
a status worth a retry, a redirect, a cut connection, a file that changed) hands the blob back to the
ordinary path (`push_blob` on a worker), which knows what to do with it; an upload session left open by
such a hand-back expires on the registry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from modelpack.oci.descriptor import Descriptor
from modelpack.store.target import Opener
from modelpack.store.upload import FileBody, read_whole

if TYPE_CHECKING:
    from modelpack.store.curl_engine import Answer
    from modelpack.store.registry import RegistryRepository

log = logging.getLogger("modelpack.registry")
IN_FLIGHT = 16  # blobs under way at once: the registry, not the client, sets the pace beyond this


class QuickUploads:
    """Small-blob uploads to one repository, at most IN_FLIGHT at a time."""

    def __init__(self, repo: RegistryRepository) -> None:
        self._repo = repo
        self._slots = threading.BoundedSemaphore(IN_FLIGHT)
        self._idle = threading.Condition()
        self._running = 0

    def start(self, desc: Descriptor, opener: Opener, done: Callable[[bool], None]) -> None:
        """Begin pushing `desc` (waits for a free slot). `done(True)` is called once the registry holds
        it, `done(False)` when the ordinary path must push it; either on the engine's thread."""
        self._slots.acquire()
        with self._idle:
            self._running += 1

        def finish(ok: bool) -> None:
            try:
                done(ok)  # before the count drops: `wait` returns only after every hand-back is made
            finally:
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()
                self._slots.release()

        try:
            post = self._repo.client.start_once("POST", f"{self._repo.prefix}/blobs/uploads/",
                                                {"Content-Length": "0"}, b"")
        except Exception as exc:  # e.g. the engine could not start: the ordinary path reports it
            log.debug("quick upload of %s not started: %s", desc.digest, type(exc).__name__)
            finish(False)
            return
        post.add_done_callback(lambda answer: self._after_post(answer, desc, opener, finish))

    def _after_post(self, future: Future[Answer], desc: Descriptor, opener: Opener,
                    finish: Callable[[bool], None]) -> None:
        try:
            answer = future.result()
            location = answer.headers.get("Location", "")
            if answer.status != 202 or not location:
                finish(False)
                return
            url = self._repo.absolute(location)
            body = read_whole(FileBody(opener, desc.size))
            put = self._repo.client.start_once(
                "PUT", f"{url}{'&' if '?' in url else '?'}digest={desc.digest}",
                {"Content-Type": "application/octet-stream"}, body)
        except Exception as exc:  # anything unexpected: the ordinary path tries, and reports
            log.debug("quick upload of %s handed back: %s", desc.digest, type(exc).__name__)
            finish(False)
            return
        put.add_done_callback(lambda answer: self._after_put(answer, finish))

    @staticmethod
    def _after_put(future: Future[Answer], finish: Callable[[bool], None]) -> None:
        try:
            ok = future.result().status in (201, 204)
        except Exception:
            ok = False
        finish(ok)

    def wait(self) -> None:
        """Return once no upload is under way (each finished or handed back)."""
        with self._idle:
            while self._running:
                self._idle.wait()
