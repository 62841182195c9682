"""Small files: written so that a crash leaves the old version or the new one, never half of either;
configuration files read with a cap."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def atomic_write(path: Path, data: bytes | Iterable[bytes], mode: int | None = None) -> None:
    """Write `data` (bytes, or pieces of it written as they come) to a temporary name beside `path`,
    fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                f.writelines(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    """The process's umask, read from /proc, not set and put back with os.umask, which would change it for a
    moment for every thread (0o022 where /proc does not say)."""
    umask = 0o022
    with contextlib.suppress(OSError, ValueError, StopIteration), \
            open("/proc/self/status", encoding="ascii", errors="replace") as status:
        umask = int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    return umask


def new_file_mode() -> int:
    """The mode `open()` gives a new file: 0o666 less the process's umask (0o644 under the usual 022). What a
    file meant for others (an `oci:` layout's index, a pulled folder's modelpack.yaml) is written with, where
    `atomic_write`'s temporary file alone would leave it 0o600."""
    return 0o666 & ~current_umask()


def new_dir_mode() -> int:
    """The mode `mkdir` gives a new folder: 0o777 less the process's umask (0o755 under the usual 022). What a
    folder made under a temporary name (0o700) and renamed into place gets."""
    return 0o777 & ~current_umask()


def sync_filesystem(path: Path) -> None:
    """Flush everything written to `path`'s filesystem, in one call: `syncfs(2)` where the C library has
    it (one journal commit for a folder of thousands of small files, not one each), else `sync()`."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    syncfs = getattr(libc, "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), f"syncfs of {path} failed")
    finally:
        os.close(fd)


def read_capped(path: Path, limit: int) -> bytes | None:
    """A configuration file's bytes, read no further than `limit` (a huge file is a mistake, not a
    configuration).

    Args:
        path: the file.
        limit: the most bytes accepted.

    Returns:
        The contents, or None when the file holds more than `limit` bytes.

    Raises:
        OSError: it cannot be read.
    """
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    return data if len(data) <= limit else None
