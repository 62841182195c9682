"""Refusing early a write that cannot fit: a registry controls the sizes it declares (10^15 bytes is a
valid descriptor), so the total is checked against the free space before the first byte is written,
instead of failing with a full disk hours later. Nothing is preallocated from a declared size."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from modelpack.errors import InsufficientSpaceError

NOT_WRITABLE = "not writable by this user"  # the strerror of a place refused before any write was tried


def require_space(needs: Iterable[tuple[Path, int]]) -> None:
    """Raise unless each filesystem has room for what is to be written on it.

    Args:
        needs: (a path on or below which the bytes will be written, how many bytes); paths on one
            filesystem add up. A path need not exist yet: its nearest existing parent is asked.

    Raises:
        InsufficientSpaceError: one line naming the place, the bytes needed and the bytes available.
        OSError: the place is on a read-only filesystem (EROFS) or in a folder this user cannot write in
            (EACCES): that, not its free space, is what stops the write.
    """
    totals: dict[int, tuple[Path, Path, int]] = {}  # device: (its first place's existing parent, the place, bytes)
    for path, size in needs:
        if size <= 0:
            continue
        anchor = _existing(Path(path).absolute())
        device = os.stat(anchor).st_dev
        first, place, total = totals.get(device, (anchor, Path(path).absolute(), 0))
        totals[device] = (first, place, total + size)
    for anchor, place, total in totals.values():
        if not _can_judge(anchor):
            continue  # a virtual filesystem reports no size: its first write says what it allows
        free = shutil.disk_usage(anchor).free
        if total > free:
            short = InsufficientSpaceError(f"not enough free space on {anchor}: {size_text(total)} needed, "
                                           f"{size_text(free)} available")
            short.place = str(place)
            raise short


def _can_judge(anchor: Path) -> bool:
    """Whether `anchor`'s free space says anything, after refusing a place no file can be written in: there
    free space (none on a read-only image or /proc) would be blamed for a write that could never happen.

    Raises:
        OSError: EROFS on a read-only filesystem, EACCES in a folder this user cannot write in.
    """
    stats = os.statvfs(anchor)
    if stats.f_flag & os.ST_RDONLY:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(anchor))
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, NOT_WRITABLE, str(anchor))
    return stats.f_blocks > 0  # /proc, /sys (and a tmpfs without a size) report none


def same_filesystem(a: Path, b: Path) -> bool:
    """Whether `a` and `b` (or, for a path not made yet, its nearest existing parent) share a filesystem."""
    return bool(os.stat(_existing(Path(a).absolute())).st_dev == os.stat(_existing(Path(b).absolute())).st_dev)


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def human_size(size: int) -> str:
    """`size` bytes, short: "1.5 GiB", "512 B"."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def size_text(n: int) -> str:
    """`n` bytes for a person: "1.5 GiB (1610612736 bytes)"."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n} bytes)"
    return f"{n} bytes"
