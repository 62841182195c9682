"""The model's OpenSSF model-signing signature (model.sig) for `pull -o`: looked up while its blobs
download (a referrers query costs round trips), then written beside the pulled files so the directory
verifies offline with `model_signing verify key`."""

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
    """One model's model.sig, looked up in the background from `start` on."""

    def __init__(self, repo: Storage, manifest: Manifest) -> None:
        self._repo = repo
        self._manifest = manifest  # a model.sig over other files is not written (see lists_files_of)
        self._future: Future[bytes | None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._done = False
        self._found: bytes | None = None

    def start(self, root: Descriptor) -> None:
        """Begin looking up the signatures of the manifest `root` (once; later calls do nothing)."""
        if self._future is None:
            self._pool = worker_pool(1, "model-sig")
            from modelpack.signatures import model_signing  # (cryptography: only once a pull gets here)

            accept = functools.partial(model_signing.lists_files_of, manifest=self._manifest)
            self._future = self._pool.submit(model_signature, self._repo, root.digest, accept)

    def found(self) -> bytes | None:
        """The signature to write, once the lookup ends; None when there is none, or it could not be read
        (said in one warning line: the files are complete and verified without it)."""
        if not self._done:
            self._done = True
            try:
                self._found = self._future.result() if self._future is not None else None
            except TransportError as exc:
                # A pull through a mirror while the origin (where signatures are looked up last) is down
                # still succeeds, and says what it could not do.
                log.warning("model.sig not looked up: %s", exc)
            except (VerificationError, NotFoundError) as exc:
                # A referrer deleted since it was listed, or one anyone with push rights wrote broken, must
                # not fail a pull whose files are complete and verified (`verify` judges signatures).
                log.warning("model.sig not written: %s", exc)
        return self._found

    def write(self, output: Path) -> None:
        """Write the signature found (if any) as `output`/model.sig."""
        from modelpack.files import atomic_write, new_file_mode

        signature = self.found()
        if signature is not None:  # replaces a stale one a --force pull found there
            atomic_write(output / MODEL_SIG_FILE, signature, mode=new_file_mode())

    def close(self) -> None:
        """Stop the lookup's thread (an unfinished lookup is cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
