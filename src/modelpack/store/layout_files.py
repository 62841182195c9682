"""Files of an image layout opened as what they may be: a layout is often downloaded, so `index.json` or a
blob may be a FIFO (whose open waits forever for a writer: a pull hung past SIGTERM), a symlink to `/dev/zero`
(whose read never ends: an index.json read whole ended in MemoryError), or simply huge. Opened without
waiting, refused unless a regular file, and read no further than a cap."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from modelpack.errors import IntegrityError, UsageError
from modelpack.streams import read_at_most


def open_regular(path: Path | str, what: str) -> BinaryIO:
    """`path` opened for reading, if it is a regular file (through any symlinks).

    Args:
        path: the file.
        what: what it is, said before its path in the errors, e.g. "blob".

    Returns:
        The open file, blocking reads as usual.

    Raises:
        FileNotFoundError: there is no such file.
        UsageError: it is a directory.
        IntegrityError: it is a FIFO, a device or a socket.
    """
    # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer (regular files ignore it).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UsageError(f"{what} {path} is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise IntegrityError(f"{what} {path} is not a regular file (a FIFO, device or socket): "
                                 "the layout is damaged or was made to hang its readers")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int, what: str) -> bytes:
    """A regular file's bytes, refused past `limit` without reading further.

    Args:
        path: the file.
        limit: the most bytes accepted.
        what: names it in the errors.

    Returns:
        Its contents.

    Raises:
        FileNotFoundError: there is no such file.
        UsageError: it is a directory.
        IntegrityError: it is no regular file, or holds more than `limit` bytes.
    """
    with open_regular(path, what) as f:
        data = read_at_most(f, limit)
    if len(data) > limit:
        raise IntegrityError(f"{what} {path} is over the {limit} byte limit")
    return data
