"""One download of a blob at a time across processes sharing a local store: two pulls of the same model
(two pods on a node, a CI matrix) each fetched every blob, twice the bytes from the registry and twice the
disk writes. The second waits for the first and then takes the blob it stored; if the first fails or is
killed (its lock goes with it), the second fetches the blob itself.

The lock is a file `ingest/<hex>.fetching` held with flock; its holder removes it before letting go, so a
waiter that wakes on a removed file opens the current one again (the usual lock-file protocol), and only a
SIGKILLed holder leaves one behind, for `store gc` (which removes ingest files nobody holds).

A holder that makes no progress (SIGSTOPped, hung on a dead disk) would hold every pull of the blob
forever: the wait lasts while the holder's ingest files change, and ends once they stay still for the
pull's timeout (`--timeout`, MODELPACK_TIMEOUT). The waiter then says which process holds the lock and
fetches the blob into a temp file of its own (digest verified before it gets the blob's name); the
holder's download is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from modelpack.errors import TransportError
from modelpack.store.own_files import open_own, replaced_again

log = logging.getLogger("modelpack.store")
_POLL_S = 0.05  # how often a waiter looks again: it must notice a cancelled transfer (Ctrl-C) quickly
_FOREIGN_TRIES = 5  # what sits at the lock's name is replaced again by someone else: give up
_LOOK_S = 1.0  # how often a waiter looks whether the holder's files changed


@contextlib.contextmanager
def fetching(ingest_dir: Path, digest: str, cancelled: threading.Event, patience: float) -> Iterator[bool]:
    """Hold the right to fetch `digest` into the store, waiting while another process holds it and
    makes progress.

    Args:
        ingest_dir: the store's ingest folder.
        digest: the blob about to be fetched.
        cancelled: set when the transfer is abandoned: the wait then ends.
        patience: seconds the holder's files may stay unchanged before the wait ends.

    Yields:
        True when held; False when the holder made no progress for `patience` seconds: the block must
        then fetch the blob into a new temp file, never the holder's download (see `resumable_ingest`).

    Raises:
        TransportError: the transfer was cancelled while waiting.
    """
    path = ingest_dir / f"{digest.split(':')[-1]}.fetching"
    fd = _acquire(path, digest, cancelled, _Stillness(ingest_dir, digest, patience))
    if fd is None:
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _acquire(path: Path, digest: str, cancelled: threading.Event, still: _Stillness) -> int | None:
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
                if still.expired():
                    log.warning("blob %s: %s has held %s for %.0f s with no progress; fetching the blob into a "
                                "file of its own (if it is stuck, end it, or resume it with kill -CONT)",
                                digest, _holder(fd), path, still.patience)
                    os.close(fd)
                    return None
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its holder removed it as it let go: take the current one


class _Stillness:
    """Whether the lock holder's files in ingest/ (its lock, its download: names starting with the
    digest's first 16 hex digits) have stayed unchanged for `patience` seconds."""

    def __init__(self, ingest_dir: Path, digest: str, patience: float) -> None:
        self.ingest_dir, self.prefix, self.patience = ingest_dir, digest.split(":")[-1][:16], patience
        self.seen = self._look()
        self.since = self.looked = time.monotonic()

    def expired(self) -> bool:
        now = time.monotonic()
        if now - self.looked < _LOOK_S:
            return False
        self.looked = now
        seen = self._look()
        if seen != self.seen:
            self.seen, self.since = seen, now
        return now - self.since >= self.patience

    def _look(self) -> frozenset[tuple[str, int, int, int, int]]:
        found = set()
        with contextlib.suppress(OSError), os.scandir(self.ingest_dir) as entries:
            for entry in entries:
                if entry.name.startswith(self.prefix):
                    with contextlib.suppress(OSError):
                        st = entry.stat(follow_symlinks=False)
                        found.add((entry.name, st.st_ino, st.st_size, st.st_blocks, st.st_mtime_ns))
        return frozenset(found)


def _holder(fd: int) -> str:
    """Which process holds the flock on `fd`'s file, as far as Linux's /proc/locks tells: "process 123
    (stopped)", else "another process"."""
    st = os.fstat(fd)
    file_id = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            lines = locks.read(1 << 20).splitlines()
    except OSError:
        return "another process"
    for line in lines:
        fields = line.split()
        if len(fields) > 5 and fields[1] != "->" and fields[1] == "FLOCK" and fields[5] == file_id:
            pid = fields[4]
            return f"process {pid}{_state(pid)}"
    return "another process"


def _state(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat_file:
            state = stat_file.read(4096).rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""
    return {"T": " (stopped)", "t": " (stopped by a debugger)", "D": " (waiting on its disk)"}.get(state, "")
