"""A blob uploaded while its digest is still being computed, so hashing and uploading overlap: one
streamed PATCH, closed by a PUT naming the digest once it is known (`RegistryRepository.push_blob_speculative`).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

from modelpack.errors import NotFoundError, RegistryError, TransportError
from modelpack.oci.descriptor import Descriptor
from modelpack.store.bodies import finish
from modelpack.store.target import Opener, Progress, SpeculationFailed
from modelpack.store.upload import Abandoned, FileBody, Stopped, changed_since_walk, check_stored, refused

if TYPE_CHECKING:
    from modelpack.store.registry import RegistryRepository


def push_speculative(repo: RegistryRepository, size: int, opener: Opener, digest: Future[str],
                     progress: Progress | None = None, abandon: threading.Event | None = None,
                     hashing: bool = False) -> bool:
    """Start uploading a blob whose digest is still being computed. When the digest arrives, a HEAD asks
    whether the registry already has the blob; if so, the upload is abandoned, as it is once `abandon` is set
    (the caller sends these bytes another way: an equal file).

    Args:
        repo: the repository pushed to.
        size: the blob's size.
        opener: opens the bytes to send.
        digest: the blob's digest, once computed.
        progress: told the size of each piece sent.
        abandon: set by the caller to give the upload up.
        hashing: the upload itself hashes what it sends and sets `digest` once it has read the whole file
            (no HEAD: the caller knows the repository holds nothing).

    Returns:
        Whether bytes were uploaded.

    Raises:
        SpeculationFailed: the registry refused the streamed upload: the caller pushes the ordinary way.
        Stopped: the push was interrupted (the session is cancelled with the others: `cancel_uploads`).
        IntegrityError: the file changed while it was sent, or the registry refused its digest.
    """
    present = abandon if abandon is not None else threading.Event()

    def check(done: Future[str]) -> None:
        if done.exception() is None and not present.is_set() and repo.has_blob(_probe(done.result(), size)):
            present.set()

    start = repo.client.send("POST", f"{repo.prefix}/blobs/uploads/", headers={"Content-Length": "0"},
                             ok=(202,), what="start upload")
    finish(start)
    location = repo.absolute(start.headers.get("Location", ""))
    repo.uploads.opened(location)
    if not hashing:
        digest.add_done_callback(check)
    body = FileBody(opener, size, progress, abort=present, hashed=digest if hashing else None)
    try:
        resp = repo.client.send(
            "PATCH", location, body=body,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            ok=(202,), retries=0, what="streamed upload",
        )
        finish(resp)
    except Abandoned:
        repo.cancel_upload(location)
        return False
    except Stopped:
        raise  # interrupted: the session is cancelled with the others (cancel_uploads)
    except (RegistryError, TransportError, NotFoundError) as exc:
        repo.cancel_upload(location)
        raise SpeculationFailed(str(exc)) from None
    if hashing and not digest.done():  # (every transport here reads a body to its end: not expected)
        repo.cancel_upload(location)
        raise SpeculationFailed("the upload ended before its body was read to the end")
    repo.uploads.opened(after := repo.absolute(resp.headers.get("Location", "")) or location)
    final = digest.result()  # the hash finished long before a large upload did
    # A file rewritten meanwhile: with `hashing` the digest is of the bytes sent, which would go up torn;
    # without, the hash read the file beside the upload and both may have read the rewrite, or part of it.
    torn = changed_since_walk(body)
    if torn is not None:
        repo.cancel_upload(after)
        raise torn
    if present.is_set():
        repo.cancel_upload(after)
        return False
    sep = "&" if "?" in after else "?"
    try:
        closed = repo.client.send("PUT", f"{after}{sep}digest={final}", headers={"Content-Length": "0"},
                                  ok=(201, 204), what=f"upload of {final}")
        closed.close()
        repo.uploads.closed(after)
        check_stored(repo.client.host, final, closed)
    except RegistryError as exc:
        if "DIGEST_INVALID" in exc.codes or "SIZE_INVALID" in exc.codes:
            raise refused(body, final) from None
        raise SpeculationFailed(str(exc)) from None
    except NotFoundError as exc:  # the session is gone (expired, or a Location that led nowhere)
        raise SpeculationFailed(str(exc)) from None
    return True


def _probe(digest: str, size: int) -> Descriptor:
    return Descriptor(mediaType="application/octet-stream", digest=digest, size=size)
