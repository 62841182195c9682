"""Copy a file the cheapest way the filesystem allows, into a file that shares nothing writable with it.

Pulled files used to be hard links into the local store, so editing one edited the stored blob. A copy
is independent; these are the ways to make one, cheapest first:

1. a reflink (`ioctl(FICLONE)`: btrfs, XFS, bcachefs, ...): no bytes move, the two files share blocks
   copy-on-write, so writing to one never changes the other;
2. `copy_file_range(2)`: the kernel copies (no trip through user space; NFS and some filesystems do it
   server-side);
3. a plain buffered copy, when the kernel offers neither (another filesystem on old kernels, FUSE, ...).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

CHUNK = 1024 * 1024
FICLONE = 0x40049409  # _IOW(0x94, 9, int), linux/fs.h
# copy_file_range failing with these means "not here": fall back to a buffered copy. Anything else
# (no space left, an I/O error) is a real failure and is raised.
_UNSUPPORTED = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL,
                          errno.EBADF, errno.ETXTBSY, errno.EPERM})


def clone_or_copy(source: Path, target: Path) -> str:
    """Create `target` (which must not exist) holding the bytes of `source`.

    Args:
        source: the file to copy (a verified store blob).
        target: the new file; created exclusively, so an existing file or link is never followed.

    Returns:
        How it was copied: "reflink", "copy_file_range" or "copy".

    Raises:
        OSError: the copy failed (e.g. no space left); `target` may then hold part of the bytes, so
            callers write it inside a staging directory they remove on failure.
    """
    with open(source, "rb", buffering=0) as src, open(target, "xb", buffering=0) as dst:
        return copy_fd(src.fileno(), dst.fileno())


def copy_fd(src: int, dst: int) -> str:
    """Copy the whole of open file `src` into the empty open file `dst`; how (see clone_or_copy)."""
    if _reflink(src, dst):
        return "reflink"
    size = os.fstat(src).st_size
    done = copy_range(src, dst, size)
    if done >= size:
        return "copy_file_range"
    buffered_copy(src, dst, done)
    return "copy"


def _reflink(src: int, dst: int) -> bool:
    try:
        fcntl.ioctl(dst, FICLONE, src)
    except OSError:  # not supported here (ext4, tmpfs), another filesystem, or no ioctl at all
        return False
    return True


def copy_range(src: int, dst: int, size: int) -> int:
    """Copy up to `size` bytes with copy_file_range from the files' current offsets; how many were
    copied before the kernel said it cannot (0 when it cannot at all)."""
    done = 0
    copy_file_range = getattr(os, "copy_file_range", None)
    if copy_file_range is None:
        return 0
    while done < size:
        try:
            n = copy_file_range(src, dst, min(size - done, 1 << 30))
        except OSError as exc:
            if exc.errno in _UNSUPPORTED:
                return done
            raise
        if n == 0:  # some filesystems report 0 instead of an error: finish another way
            return done
        done += n
    return done


def buffered_copy(src: int, dst: int, offset: int = 0) -> None:
    """Copy the rest of `src`, from `offset`, to the same offset of `dst` through one reused buffer."""
    os.lseek(src, offset, os.SEEK_SET)
    os.lseek(dst, offset, os.SEEK_SET)
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    while n := os.readv(src, [buffer]):
        chunk = view[:n]
        while chunk:
            chunk = chunk[os.write(dst, chunk):]
