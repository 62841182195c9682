"""The paths an artifact names for its files, checked: one is restored only when it is plainly inside the
output directory and a filesystem can hold it."""

from __future__ import annotations

from pathlib import PurePosixPath

from modelpack.errors import UnsafePathError
from modelpack.oci.jsontext import encodable

# What a file name and a path can hold: a name's bytes on Linux's filesystems (ext4, xfs, btrfs, tmpfs;
# APFS and NTFS stop at 255 characters), a path's with its NUL (PATH_MAX). Refused up front, with the
# artifact's other unrestorable paths, rather than as "File name too long" halfway through a restore.
NAME_MAX = 255
PATH_MAX = 4096


def safe_relpath(path: str) -> str:
    """Normalise an artifact path, refusing anything that is not plainly inside the output directory or
    that no filesystem can hold.

    Args:
        path: the path as the artifact names it (`/` or `\\` between names).

    Returns:
        The path relative to the output directory, names joined by `/`, with no `.` or empty names.

    Raises:
        UnsafePathError: the path is empty, absolute, climbs out, names a drive or a .git folder, holds
            NUL or a lone surrogate, or has a name or a length beyond what a filesystem holds.
    """
    if not path or "\0" in path:
        raise UnsafePathError(f"refused path {path!r}: empty or contains NUL")
    if not encodable(path):  # a JSON `\ud800` escape: no file name encodes it
        raise UnsafePathError(f"refused path {path!r}: it holds a lone surrogate, which no file name can")
    if path.startswith(("/", "\\")):
        raise UnsafePathError(f"refused absolute path {path!r}")
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if any(part == ".." for part in parts):
        raise UnsafePathError(f"refused path {path!r}: it climbs out with '..'")
    clean = [p for p in parts if p not in (".", "")]
    if not clean:
        raise UnsafePathError(f"refused path {path!r}: it names the output directory itself")
    if len(clean[0]) >= 2 and clean[0][1] == ":" and clean[0][0].isascii() and clean[0][0].isalpha():
        raise UnsafePathError(f"refused path {path!r}: it names a drive")
    if any(_is_git_dir(part) for part in clean):
        raise UnsafePathError(f"refused path {path!r}: a .git folder's hooks would run on the next git command")
    longest = max(len(part.encode()) for part in clean)
    if longest > NAME_MAX:
        raise UnsafePathError(f"refused path {path!r}: a name of {longest} bytes, longer than any filesystem "
                              f"holds ({NAME_MAX})")
    joined = "/".join(clean)
    if len(joined.encode()) >= PATH_MAX:
        raise UnsafePathError(f"refused path {path!r}: {len(joined.encode())} bytes, longer than a path can be "
                              f"({PATH_MAX - 1})")
    return joined


def _is_git_dir(part: str) -> bool:
    """What git's own checkout refuses (verify_dotfile): `.git` in any case, also with the trailing dots
    or spaces Windows drops, and its 8.3 short name `git~1`."""
    name = part.rstrip(". ").lower()
    return name in (".git", "git~1")
