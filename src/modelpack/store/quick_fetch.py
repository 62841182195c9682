"""Small blobs fetched with no worker waiting on them: one GET on the curl engine, the bytes handed to the
destination on the engine's thread (see quick_upload for why).

Only a 200 with exactly the declared size, not content-encoded, is taken; the destination checks the digest
before it keeps anything. Anything else (a 401 before credentials are settled, a redirect to object storage,
a status worth a retry, a cut connection, wrong bytes) hands the blob back to the ordinary path, which knows
what to do with it. A registry that redirects blob downloads gets no more quick fetches: each would cost
a request for nothing.

A quick fetch is the first attempt of the blob's GET, not a GET of its own: it waits for an answer as one
attempt of `RegistryClient.send` does (`attempt` seconds), and the time it spent counts against the
deadline of the ordinary path that takes a handed-back blob (`spent`). Each starting afresh, a registry
that accepted the connection and stayed silent held a small blob for twice `--timeout`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from modelpack.oci.descriptor import Descriptor
from modelpack.store.quick_upload import InFlight

if TYPE_CHECKING:
    from modelpack.store.curl_engine import Answer, Exchange
    from modelpack.store.registry import RegistryRepository

log = logging.getLogger("modelpack.registry")
Accept = Callable[[Descriptor, bytes], bool]  # keeps a blob's bytes (checked against its digest), or says no


class QuickFetches(InFlight):
    """Small-blob downloads from one repository, at most IN_FLIGHT at a time."""

    def __init__(self, repo: RegistryRepository) -> None:
        super().__init__(repo)
        self._scope = repo.client.scope_for("GET", f"{repo.prefix}/blobs/")  # the same for every blob
        self.redirected = False  # the registry sent a blob GET elsewhere: use the ordinary path
        self._spent: dict[str, float] = {}  # digest -> seconds its handed-back quick fetch was under way

    def start(self, desc: Descriptor, accept: Accept, done: Callable[[bool], None]) -> None:
        """Begin fetching `desc` (waits for a free slot). `done(True)` once `accept` kept its bytes,
        `done(False)` when the ordinary path must fetch it; either on the engine's thread."""
        made: list[Exchange] = []

        def prepare() -> Exchange:
            client = self._repo.client
            made.append(client.prepare_once("GET", f"{self._repo.prefix}/blobs/{desc.digest}", {}, None,
                                            cap=desc.size + 1, scope=self._scope, stall=client.options.attempt))
            return made[0]

        self.start_transfer(desc, done, prepare,
                            lambda answer, finish: self._after_get(answer, made[0], desc, accept, finish))

    def spent(self, digest: str) -> float:
        """Seconds the quick fetch of `digest` waited on the registry before handing it back (0.0 if none
        did); asked once, by the ordinary path that takes it over."""
        return self._spent.pop(digest, 0.0)

    def _after_get(self, future: Future[Answer], exchange: Exchange, desc: Descriptor, accept: Accept,
                   finish: Callable[[bool], None]) -> None:
        try:
            answer = future.result()
            if 300 <= answer.status < 400:
                self.redirected = True
            encoding = answer.header("Content-Encoding", "identity").strip().lower()
            ok = answer.status == 200 and not answer.overflow and len(answer.body) == desc.size \
                and encoding in ("", "identity") and accept(desc, answer.body)
        except Exception as exc:  # anything unexpected: the ordinary path tries, and reports
            log.debug("quick fetch of %s handed back: %s", desc.digest, type(exc).__name__)
            ok = False
        if not ok:  # (before `finish`: it hands the blob to a worker that asks)
            self._spent[desc.digest] = time.monotonic() - exchange.began
        finish(ok)
