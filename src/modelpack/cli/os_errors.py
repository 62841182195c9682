"""One line for an operating-system error, with the next step for the failures a platform meets: a full
disk (or quota, or no inodes left), a read-only filesystem, where the local store often lives in a
container or a CI runner, and a folder this user may not write in (root's, a shared one). The errno alone
("No space left on device") names neither the place nor the fix.
"""

from __future__ import annotations

import errno
from pathlib import Path

from modelpack.space import NOT_WRITABLE
from modelpack.store.layout import default_home

_FULL = {errno.ENOSPC, errno.EDQUOT}
_DENIED = {errno.EACCES, errno.EPERM}


def describe(exc: OSError) -> str:
    """`exc` as one line: what failed, where, and for a full, read-only or forbidden place what to do.

    Args:
        exc: the error an operation raised.

    Returns:
        The message, without the `error: ` prefix.
    """
    line = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    home = default_home()
    # a place refused before any write, or the store denied (elsewhere a refused read needs no advice)
    denied = exc.strerror == NOT_WRITABLE or (exc.errno in _DENIED and bool(exc.filename)
                                              and _under(Path(str(exc.filename)), home))
    if exc.errno not in _FULL and exc.errno != errno.EROFS and not denied:
        return line
    if not exc.filename:  # a failed write names no file: it went to the store or an output directory
        where = f" (the local store MODELPACK_HOME={home}, or the output directory)"
    elif _under(Path(str(exc.filename)), home):
        where = f" (the local store MODELPACK_HOME={home})"
    else:
        where = ""
    if denied:
        move = "set MODELPACK_HOME to a directory this user can write" if where else "write elsewhere"
        return f"{line}{where}: {move}, or give this user write access there"
    if exc.errno in _FULL:
        return f"{line}{where}: free space (or inodes) there, or write elsewhere (set MODELPACK_HOME to move the store)"
    return f"{line}{where}: the filesystem is read-only; write elsewhere (set MODELPACK_HOME to a writable directory)"


def _under(path: Path, home: Path) -> bool:
    path, home = path.absolute(), home.absolute()
    return path == home or home in path.parents
