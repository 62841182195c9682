"""Files of the local store's `ingest/` folder: each is created under an exclusive lock held for as long
as its writer lives (garbage collection removes only files nobody holds, see `maintenance`), and gets its
final name, read-only, only once complete; one that never does is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from modelpack.store.own_files import rename_held


def open_ingest(ingest_dir: Path, prefix: str) -> tuple[int, str]:
    """A new file in `ingest_dir`, locked for as long as its fd is open.

    Returns:
        The open fd and the file's path.
    """
    while True:
        fd, tmp = tempfile.mkstemp(dir=ingest_dir, prefix=prefix + ".")
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                return fd, tmp
        except FileNotFoundError:
            pass  # a GC took it between its creation and our lock: take another
        os.close(fd)


@contextlib.contextmanager
def ingest_into(ingest_dir: Path, prefix: str, final: Path) -> Iterator[int]:
    """A new ingest file's fd for the block to fill, then close; once the block ends, the file is made
    read-only and renamed to `final`, or removed if the block raised.

    Returns:
        The fd, which the block owns.
    """
    fd, tmp = open_ingest(ingest_dir, prefix)
    # The block closes `fd`; a duplicate keeps the file's flock (one open file description) until it has
    # its name, or another process's sweep of ingest/ would take it as a dead process's leftover.
    hold = os.dup(fd)
    try:
        yield fd
        os.fchmod(hold, 0o444)  # (by name, a symlink swapped in would have its target changed)
        rename_held(hold, tmp, final)  # another file swapped in at `tmp` is not what was verified
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        os.close(hold)
