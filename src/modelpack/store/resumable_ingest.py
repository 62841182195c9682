"""A large blob's download into the local store that survives its process: stopped mid-way (Ctrl-C, a
killed pod, a lost connection after its retries), the next pull of it asks only for the rest.

A blob of at least RESUME_MIN_BYTES is received into `ingest/<hex>.partial` (a name any later process
finds), under the store's per-blob fetch lock (see `fetch_lock`), so one process at a time writes it. When
the download stops for any reason but bad bytes, the file stays. The next process holding the lock hashes
what the file holds from its start up to its first hole (a blob fetched in ranges is written at several
places at once), asks the source for the rest with a Range request, and goes on from there; the digest
is then checked over the whole blob as for any download, and only a verified file gets the blob's name.
What decides nothing is trusted: a source that ignores the Range gets the blob whole, and a resumed blob
whose digest does not match (the kept bytes were damaged, by a crash or by hand) is fetched once more
from its first byte. `store gc` removes the kept files nobody is writing (see `maintenance.sweep_ingest`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, TypeGuard

from modelpack.errors import IntegrityError
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.digest import Verifier
from modelpack.store.blobstream import RangesIgnored
from modelpack.store.own_files import open_own, rename_held, replaced_again
from modelpack.store.target import BlobOpener, Progress

if TYPE_CHECKING:
    from pathlib import Path

    from modelpack.store.receive import Receiver

log = logging.getLogger("modelpack.store")

RESUME_MIN_BYTES = 64 * 1024 * 1024  # smaller blobs are fetched again whole: a few seconds at most
_HASH_PIECE = 1024 * 1024
_OPEN_TRIES = 5  # what sits at a partial's name is replaced again by someone else: give up


def resumable(opener: object, desc: Descriptor) -> TypeGuard[BlobOpener]:
    """Whether the blob's download into the store should outlive its process."""
    return desc.size >= RESUME_MIN_BYTES and isinstance(opener, BlobOpener) and opener.resumable


def partial_name(desc: Descriptor) -> str:
    """The name in ingest/ of the blob's download while it is received, and once it stopped."""
    return f"{desc.digest.split(':')[-1]}.partial"


def kept_downloads(ingest_dir: Path, blobs: Iterable[Descriptor]) -> dict[str, int]:
    """The stopped downloads in `ingest_dir` a pull of `blobs` would resume: file name to bytes kept."""
    kept = {}
    for desc in blobs:
        if desc.size >= RESUME_MIN_BYTES:
            with contextlib.suppress(OSError):
                st = os.lstat(ingest_dir / partial_name(desc))  # (a link planted there counts for nothing)
                if stat.S_ISREG(st.st_mode):
                    kept[partial_name(desc)] = min(st.st_size, desc.size)
    return kept


def ingest_resumable(receiver: Receiver, ingest_dir: Path, final: Path, desc: Descriptor, opener: BlobOpener,
                     progress: Progress | None = None, mode: int = 0o444) -> None:
    """Receive the blob into `ingest_dir`, resuming what an earlier process left there; give it the name
    `final` once its digest is verified. The store's caller holds the blob's fetch lock; elsewhere the
    download's own lock keeps a second process from writing it at the same time.

    Args:
        receiver: writes and verifies the bytes.
        ingest_dir: the store's ingest folder.
        final: the blob's path in the store.
        desc: the blob.
        opener: opens the blob, from its start or from a given byte.
        progress: told the bytes of the blob in place (those kept from before first) as they land.
        mode: the permissions `final` gets.

    Raises:
        IntegrityError: the blob's bytes, fetched whole, do not match its digest (nothing is kept).
        TransportError, RegistryError, NotFoundError, AuthenticationError: as the source's; what was
            received is kept for the next attempt.
    """
    path = ingest_dir / partial_name(desc)
    fd = _open_held(path)
    try:
        try:
            _receive(receiver, fd, path, desc, opener, progress)
        except IntegrityError:
            _unlink(path)
            raise
        os.fchmod(fd, mode)
        rename_held(fd, path, final)
    finally:
        os.close(fd)


def say_kept(ingest_dir: Path, blobs: Iterable[Descriptor]) -> None:
    """After a pull into the local store stopped (Ctrl-C, a failure): one warning line saying how much of its
    downloads the store keeps for the next pull to resume, as a stopped `pull -o` says of its folder. A
    download another live process is writing is not this pull's to report."""
    from modelpack.space import size_text

    kept = sum(received_bytes(ingest_dir / name, unheld=True) for name in kept_downloads(ingest_dir, blobs))
    if kept:
        log.warning("kept %s of unfinished downloads in the local store (%s): the same pull resumes them "
                    "(`modelpack store gc` removes them)", size_text(kept), ingest_dir)


def received_bytes(path: Path, unheld: bool = False) -> int:
    """How many bytes of a stopped download at `path` the next pull would keep (its written start, see
    `_written_prefix`; a blob fetched in ranges has the whole size allocated); 0 if it is not a file, or
    with `unheld`, if a live process holds it (is writing it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0
        if unheld:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # (released as the fd closes)
            except BlockingIOError:
                return 0
        return _written_prefix(fd)
    finally:
        os.close(fd)


def sweep_kept(folder: Path, keep: Collection[str] = ()) -> tuple[int, int]:
    """Remove the downloads in `folder` that no live process is writing, but those named in `keep` (one
    the caller is about to resume); (count, bytes) removed. Names starting with a dot are left: a lock
    file (the store's .index.lock) removed just as a writer opened it would let two writers hold it."""
    count = size = 0
    try:
        paths = [entry for entry in folder.iterdir() if not entry.name.startswith(".") and entry.name not in keep]
    except OSError:
        return 0, 0
    for path in paths:
        try:  # O_NONBLOCK: a FIFO planted there would hold the open (and every pull) forever
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue  # no download of ours (a directory, a FIFO): not ours to remove, nor in the way
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is alive
            held = os.fstat(fd)
            with contextlib.suppress(FileNotFoundError):
                if os.lstat(path).st_ino == held.st_ino:  # still the file we hold, not a new one
                    os.unlink(path)
                    count, size = count + 1, size + held.st_size
        finally:
            os.close(fd)
    return count, size


def _open_held(path: Path) -> int:
    """The file at `path` (made if missing), ours (see `own_files`: nothing planted there is written
    through) and locked: `store gc` removes only the ingest files nobody holds. One it removed between our
    open and our lock is not the file at `path` any more: open that one.

    Raises:
        ModelpackError: something not ours sits at `path` and cannot be removed (a directory with files).
    """
    for _ in range(_OPEN_TRIES):
        fd = open_own(path)
        if fd is None:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.lstat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise replaced_again(path)


def _receive(receiver: Receiver, fd: int, path: Path, desc: Descriptor, opener: BlobOpener,
             progress: Progress | None) -> None:
    kept = _written_prefix(fd)
    os.ftruncate(fd, kept)
    if kept == desc.size:  # stopped between its last byte and its name: it may be whole
        try:
            _hash_kept(fd, desc, kept).verify()
            return
        except IntegrityError:
            pass
    elif 0 < kept < desc.size:
        verifier = _hash_kept(fd, desc, kept)
        try:
            source = opener.from_offset(kept)
        except RangesIgnored as exc:
            log.info("blob %s: %s; fetching it whole", desc.digest, exc)
        else:
            log.info("blob %s: resuming at byte %d of %d (an earlier download of it stopped there)",
                     desc.digest, kept, desc.size)
            if progress:
                progress(kept)
            try:
                with source:
                    receiver.receive(desc, source, os.dup(fd), progress, resumed=verifier)
                return
            except IntegrityError:
                log.info("blob %s: the bytes kept from an earlier download were damaged; fetching it whole",
                         desc.digest)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    with opener() as source:
        receiver.receive(desc, source, os.dup(fd), progress)


def _written_prefix(fd: int) -> int:
    """How many bytes from the file's start were written. A blob fetched in ranges (see `ranged`) is
    written at several places at once, so a download stopped then leaves holes past its first unfinished
    range: the kept part ends a block before the first hole (the block at a hole's edge may be written
    only in part). Where holes cannot be asked for, the file's size."""
    size = os.fstat(fd).st_size
    try:
        hole = os.lseek(fd, 0, os.SEEK_HOLE)
    except (OSError, AttributeError):
        return size
    if hole >= size:
        return size
    return max(0, hole - (os.fstat(fd).st_blksize or 4096))


def _hash_kept(fd: int, desc: Descriptor, kept: int) -> Verifier:
    """A verifier that has hashed the first `kept` bytes of the file; `fd` left positioned after them."""
    verifier = Verifier(desc.digest, desc.size)
    buffer = memoryview(bytearray(_HASH_PIECE))
    offset = 0
    while offset < kept:
        n = os.preadv(fd, [buffer[:min(_HASH_PIECE, kept - offset)]], offset)
        if n <= 0:
            break
        verifier.update(buffer[:n])
        offset += n
    os.lseek(fd, offset, os.SEEK_SET)
    return verifier


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
