"""One line for an operating-system error, with the next step for the failures a platform meets: a full
disk (or quota, or no inodes left) and a read-only filesystem, where the local store often lives in a
container or a CI runner. The errno alone ("No space left on device") names neither the place nor the fix.
"""

from __future__ import annotations

import errno
from pathlib import Path

from modelpack.store.layout import default_home

_FULL = {errno.ENOSPC, errno.EDQUOT}


def describe(exc: OSError) -> str:
    """`exc` as one line: what failed, where, and for a full or read-only filesystem what to do.

    Args:
        exc: the error an operation raised.

    Returns:
        The message, without the `error: ` prefix.
    """
    line = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    if exc.errno not in _FULL and exc.errno != errno.EROFS:
        return line
    home = default_home()
    if not exc.filename:  # a failed write names no file: it went to the store or an output directory
        where = f" (the local store MODELPACK_HOME={home}, or the output directory)"
    elif _under(Path(str(exc.filename)), home):
        where = f" (the local store MODELPACK_HOME={home})"
    else:
        where = ""
    if exc.errno in _FULL:
        return f"{line}{where}: free space (or inodes) there, or write elsewhere (set MODELPACK_HOME to move the store)"
    return f"{line}{where}: the filesystem is read-only; write elsewhere (set MODELPACK_HOME to a writable directory)"


def _under(path: Path, home: Path) -> bool:
    path, home = path.absolute(), home.absolute()
    return path == home or home in path.parents
