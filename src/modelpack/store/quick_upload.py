"""Small blobs pushed with no worker waiting on them: the POST and then the PUT of the bytes run as
callbacks on the curl engine's thread.

A worker per blob that sends a request and waits, twice, costs a thread hand-off and our request code per
exchange; for a model of thousands of small files that, not the bytes, was most of our CPU (see README,
Performance). Here a blob costs two exchanges on the engine and two short callbacks. Only the expected
answers are handled: 202 with a Location, then 201. Anything else (a 401 before credentials are settled,
a status worth a retry, a redirect, a cut connection, a file that changed) hands the blob back to the
ordinary path (`push_blob` on a worker), which knows what to do with it; an upload session left open by
such a hand-back expires on the registry, or is cancelled if the push fails (see upload_sessions).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from modelpack.oci.descriptor import Descriptor
from modelpack.store.target import Opener
from modelpack.store.upload import FileBody, names_other_blob, read_whole
from modelpack.threads import signals_blocked

if TYPE_CHECKING:
    from modelpack.store.curl_engine import Answer, Exchange
    from modelpack.store.registry import RegistryRepository

log = logging.getLogger("modelpack.registry")
# Blobs under way at once, and their bytes (each is held whole in memory while under way). 32 rather
# than 16: 2,000 files of 32 KiB pushed 8 % and pulled 5 % faster against Debian stable's Distribution,
# 3 % and 4 % against Debian 12's (medians of 4, alternating; the registry also spent less CPU); beyond
# 32 nothing more was gained. A thread waiting for room is woken once no more than WAKE_AT are under way,
# not as each one ends: one wake-up per blob (a thread switch, the GIL handed over and back) was ~0.25 s
# of our CPU for 2,000 files, pulled or pushed; between WAKE_AT and IN_FLIGHT, at least 32 stay under way.
IN_FLIGHT = 48
WAKE_AT = 32
BYTES_IN_FLIGHT = 16 * 1024 * 1024


class InFlight:
    """Callback transfers under way with one repository, at most IN_FLIGHT and BYTES_IN_FLIGHT at a time (a
    larger blob alone); `wait` returns once none is."""

    def __init__(self, repo: RegistryRepository) -> None:
        self._repo = repo
        self._idle = threading.Condition()
        self._running = 0
        self._bytes = 0

    def start_transfer(self, desc: Descriptor, done: Callable[[bool], None],
                       prepare: Callable[[], Exchange],
                       then: Callable[[Future[Answer], Callable[[bool], None]], None]) -> None:
        """Take a slot for `desc` (waiting for one) and begin the transfer's first exchange, made by
        `prepare`; `then` gets its answer on the engine's thread, with what ends the transfer: that tells
        `done`, then frees the slot, so `wait` returns only after every hand-back has been made. When the
        exchange cannot even be made, the transfer is handed back at once (`done(False)`).

        The slot is taken and the exchange handed to the engine with SIGINT and SIGTERM held back (they
        are raised just after; nothing in between waits): a Ctrl-C between the two left the slot taken
        with nothing to free it, and the pull, on its way out, waited for it for ever (2 of 33 pulls
        interrupted as they began). The exchange is made before, as it may wait for a token.
        """
        try:
            exchange = prepare()
        except Exception as exc:  # the ordinary path meets the same trouble, and reports it
            log.debug("quick transfer of %s not started: %s", desc.digest, type(exc).__name__)
            done(False)
            return
        size = desc.size
        while True:
            with self._idle:  # waited for with the signals let through: nothing is taken yet
                while not self._room_for(size):
                    self._idle.wait()
            with signals_blocked():
                if self._take(size):  # else another thread took the room meanwhile: wait again
                    finish = self._ender(done, size)
                    self._repo.client.begin_once(exchange).add_done_callback(self._answered(then, finish))
                    return

    def _take(self, size: int) -> bool:
        with self._idle:
            if not self._room_for(size):
                return False
            self._running += 1
            self._bytes += size
            return True

    @staticmethod
    def _answered(then: Callable[[Future[Answer], Callable[[bool], None]], None],
                  finish: Callable[[bool], None]) -> Callable[[Future[Answer]], None]:
        return lambda answer: then(answer, finish)

    def _room_for(self, size: int) -> bool:
        # Both limits checked and taken at once: no caller holds part of what it needs.
        return not self._running or (self._running < IN_FLIGHT and self._bytes + size <= BYTES_IN_FLIGHT)

    def _ender(self, done: Callable[[bool], None], size: int) -> Callable[[bool], None]:
        def finish(ok: bool) -> None:
            try:
                done(ok)
            finally:
                with self._idle:
                    self._running -= 1
                    self._bytes -= size
                    if self._running <= WAKE_AT:  # (0 among them: what `wait` waits for)
                        self._idle.notify_all()

        return finish

    def wait(self) -> None:
        """Return once no transfer is under way (each finished or handed back)."""
        with self._idle:
            while self._running:
                self._idle.wait()


class QuickUploads(InFlight):
    """Small-blob uploads to one repository, at most IN_FLIGHT at a time."""

    def start(self, desc: Descriptor, opener: Opener, done: Callable[[bool], None]) -> None:
        """Begin pushing `desc` (waits for a free slot). `done(True)` is called once the registry holds
        it, `done(False)` when the ordinary path must push it; either on the engine's thread."""
        self.start_transfer(desc, done, lambda: self._repo.client.prepare_once(
            "POST", f"{self._repo.prefix}/blobs/uploads/", {"Content-Length": "0"}, b""),
            lambda answer, finish: self._after_post(answer, desc, opener, finish))

    def _after_post(self, future: Future[Answer], desc: Descriptor, opener: Opener,
                    finish: Callable[[bool], None]) -> None:
        try:
            answer = future.result()
            location = answer.header("Location")
            if answer.status != 202 or not location:
                finish(False)
                return
            url = self._repo.absolute(location)
            self._repo.uploads.opened(url)  # (completed below; else cancelled if the push fails)
            body = read_whole(FileBody(opener, desc.size))
            put = self._repo.client.start_once(
                "PUT", f"{url}{'&' if '?' in url else '?'}digest={desc.digest}",
                {"Content-Type": "application/octet-stream"}, body)
        except Exception as exc:  # anything unexpected: the ordinary path tries, and reports
            log.debug("quick upload of %s handed back: %s", desc.digest, type(exc).__name__)
            finish(False)
            return
        put.add_done_callback(lambda answer: self._after_put(answer, desc.digest, url, finish))

    def _after_put(self, future: Future[Answer], digest: str, url: str, finish: Callable[[bool], None]) -> None:
        try:
            answer = future.result()
            if answer.status in (201, 204):
                self._repo.uploads.closed(url)
            # one naming another blob is handed back: the ordinary path refuses it in one line
            ok = answer.status in (201, 204) and not names_other_blob(answer.header("Docker-Content-Digest"), digest)
        except Exception:
            ok = False
        finish(ok)
