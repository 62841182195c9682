"""A pulled model's OpenSSF model-signing signature (model.sig), looked up beside its download."""

from __future__ import annotations

import functools
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from modelpack.errors import NotFoundError, TransportError, VerificationError
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.signatures.lookup import MODEL_SIG_FILE, model_signature
from modelpack.store.target import Storage
from modelpack.threads import worker_pool

log = logging.getLogger("modelpack.pull")


class SignatureLookup:
    """The model's OpenSSF model-signing signature (model.sig), looked up while its blobs download (a
    referrers query costs round trips), then written beside the pulled files so the directory
    verifies offline with `model_signing verify key`."""

    def __init__(self, repo: Storage, manifest: Manifest) -> None:
        self._repo = repo
        self._manifest = manifest  # a model.sig over other files is not written (see lists_files_of)
        self._future: Future[bytes | None] | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self, root: Descriptor) -> None:
        if self._future is None:
            self._pool = worker_pool(1, "model-sig")
            from modelpack.signatures import model_signing  # (cryptography: only once a pull gets here)

            accept = functools.partial(model_signing.lists_files_of, manifest=self._manifest)
            self._future = self._pool.submit(model_signature, self._repo, root.digest, accept)

    def write(self, output: Path) -> None:
        from modelpack.files import atomic_write

        try:
            signature = self._future.result() if self._future is not None else None
        except TransportError as exc:
            # The files are complete and verified without it: a pull through a mirror while the origin
            # (where signatures are looked up last) is down still succeeds, and says what it could not do.
            log.warning("model.sig not looked up: %s", exc)
            return
        except (VerificationError, NotFoundError) as exc:
            # A referrer deleted since it was listed, or one anyone with push rights wrote broken, must not
            # fail a pull whose files are complete and verified (`verify` judges signatures).
            log.warning("model.sig not written: %s", exc)
            return
        if signature is not None:  # replaces a stale one a --force pull found there
            atomic_write(output / MODEL_SIG_FILE, signature, mode=0o644)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
