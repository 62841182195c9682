"""Opening a file in the store's ingest/ folder by a name any process finds (a download kept for resuming,
`<hex>.partial`; a fetch lock, `<hex>.fetching`) only when it is this user's own: what another user or
process planted at that name (a symlink or a hard link to a file elsewhere such as ~/.bashrc, a FIFO, a
directory, another user's file, which its owner could hold locked or rewrite at will) is never written
through, followed, waited on or locked: it is removed, and the name made afresh. And a verified download
is named a blob only if the file renamed is the one that was verified (`rename_held`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from typing import TYPE_CHECKING

from modelpack.errors import IntegrityError, ModelpackError

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger("modelpack.store")


def open_own(path: Path) -> int | None:
    """`path` opened for reading and writing (made if missing, mode 0600) if it is a regular file of ours
    with no other name; else None, with what was there removed (the caller tries again).

    Args:
        path: the file's name in ingest/.

    Returns:
        The open file (blocking, close-on-exec), or None.

    Raises:
        ModelpackError: a directory with files in it sits at `path`.
        OSError: the folder cannot be written (permissions, a read-only or full filesystem).
    """
    try:  # O_NONBLOCK: opening a FIFO never waits (O_RDWR would not either on Linux; elsewhere it may)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except PermissionError:
        if not _writable_again(path):
            raise  # nothing there: the folder itself is not ours to write
        return None
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EOPNOTSUPP):
            raise
        _remove_foreign(path)
        return None
    if _ours(os.fstat(fd)):
        os.set_blocking(fd, True)
        return fd
    os.close(fd)
    _remove_foreign(path)
    return None


def rename_held(fd: int, src: Path | str, final: Path) -> None:
    """Give the file open as `fd`, at `src`, the name `final` (a verified blob's). Another file swapped in
    at `src` meanwhile (by whoever else can write ingest/) is not what was verified: it is refused and
    removed, never left under the blob's name.

    Raises:
        IntegrityError: what was renamed is not the file open as `fd`.
    """
    os.replace(src, final)
    held, named = os.fstat(fd), os.lstat(final)
    if (named.st_dev, named.st_ino) != (held.st_dev, held.st_ino):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(final)
        raise IntegrityError(f"{src} was replaced by another file before it was named {final.name}: refused "
                             "(make the store's folder writable by its owner only)")


def replaced_again(path: Path) -> ModelpackError:
    """The error for a name that, each time it was made afresh, held something not ours again."""
    return ModelpackError(f"{path} keeps being replaced by something modelpack did not make; remove it, and make "
                          "the store's folder writable by its owner only")


def _ours(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == os.geteuid()


def _writable_again(path: Path) -> bool:
    """A download of ours made read-only for its rename and stopped just before it (a kill between the
    two): writable again, so it can be checked and named. Not ours: removed. False when nothing is there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        _remove_foreign(path)
        return True
    try:
        if _ours(os.fstat(fd)):
            os.fchmod(fd, 0o600)
            return True
    finally:
        os.close(fd)
    _remove_foreign(path)
    return True


def _remove_foreign(path: Path) -> None:
    log.warning("%s was not made by modelpack for this user (a link, a FIFO, a directory or another user's "
                "file): removed, not used", path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        try:
            os.rmdir(path)
        except OSError:
            raise ModelpackError(f"{path} is a directory modelpack did not make; remove it") from None
