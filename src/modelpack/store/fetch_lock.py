"""One download of a blob at a time across processes sharing a local store: two pulls of the same model
(two pods on a node, a CI matrix) each fetched every blob, twice the bytes from the registry and twice the
disk writes. The second waits for the first and then takes the blob it stored; if the first fails or is
killed (its lock goes with it), the second fetches the blob itself.

The lock is a file `ingest/<hex>.fetching` held with flock; its holder removes it before letting go, so a
waiter that wakes on a removed file opens the current one again (the usual lock-file protocol), and only a
SIGKILLed holder leaves one behind, for `store gc` (which removes ingest files nobody holds).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from modelpack.errors import TransportError
from modelpack.store.own_files import open_own, replaced_again

log = logging.getLogger("modelpack.store")
_POLL_S = 0.05  # how often a waiter looks again: it must notice a cancelled transfer (Ctrl-C) quickly
_FOREIGN_TRIES = 5  # what sits at the lock's name is replaced again by someone else: give up


@contextlib.contextmanager
def fetching(ingest_dir: Path, digest: str, cancelled: threading.Event) -> Iterator[None]:
    """Hold the right to fetch `digest` into the store, waiting while another process holds it.

    Args:
        ingest_dir: the store's ingest folder.
        digest: the blob about to be fetched.
        cancelled: set when the transfer is abandoned: the wait then ends.

    Raises:
        TransportError: the transfer was cancelled while waiting.
    """
    path = ingest_dir / f"{digest.split(':')[-1]}.fetching"
    fd = _acquire(path, digest, cancelled)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _acquire(path: Path, digest: str, cancelled: threading.Event) -> int:
    said = False
    foreign = 0
    while True:
        fd = open_own(path)  # a file planted there (another user's, held locked forever) is no holder
        if fd is None:
            foreign += 1
            if foreign > _FOREIGN_TRIES:
                raise replaced_again(path)
            continue
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                        raise
                if not said:  # (-v) else a pull waiting on another looks hung
                    log.info("blob %s: another process is fetching it into the store; waiting for it", digest)
                    said = True
                if cancelled.wait(_POLL_S):
                    raise TransportError(f"cancelled while another process was fetching {digest}")
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its holder removed it as it let go: take the current one
