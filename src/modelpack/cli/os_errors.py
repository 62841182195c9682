"""One line for an operating-system error, with the next step for the failures a platform meets: a full
disk (or quota, or no inodes left), a read-only filesystem, where the local store often lives in a
container or a CI runner, and a folder this user may not write in (root's, a shared one). The errno alone
("No space left on device") names neither the place nor the fix, and the fix depends on the place:
`MODELPACK_HOME` moves the store, an option (`-o DIR`) moves an output.
"""

from __future__ import annotations

import errno
from pathlib import Path

from modelpack.space import NOT_WRITABLE
from modelpack.store.layout import default_home

_FULL = {errno.ENOSPC, errno.EDQUOT}
_DENIED = {errno.EACCES, errno.EPERM}


def describe(exc: OSError, output: tuple[str, str] | None = None) -> str:
    """`exc` as one line: what failed, where, and for a full, read-only or forbidden place what to do.

    Args:
        exc: the error an operation raised.
        output: (option, value) of the command's option naming where it writes outside the store, such as
            ("-o", "./iris"), if it was given.

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
    full = exc.errno in _FULL
    where, fix = _where_and_fix(str(exc.filename) if exc.filename else None, full, output)
    if denied:
        move = "set MODELPACK_HOME to a directory this user can write" if where else "write elsewhere"
        return f"{line}{where}: {move}, or give this user write access there"
    if full:
        return f"{line}{where}: free space (or inodes) there, or write elsewhere ({fix})"
    return f"{line}{where}: the filesystem is read-only; write elsewhere ({fix})"


def short_of_space(place: str | None, output: tuple[str, str] | None = None) -> str:
    """What follows `not enough free space on PLACE: ...` (a check before writing): whether PLACE is the
    local store, and how to write elsewhere, as a full disk met while writing says it."""
    where, fix = _where_and_fix(place, True, output)
    return f"{where}: free space there, or write elsewhere ({fix})"


def _where_and_fix(filename: str | None, full: bool, output: tuple[str, str] | None) -> tuple[str, str]:
    """(` (the local store ...)` or "", the option or setting that moves the write) for a failure at `filename`."""
    home = default_home()
    store_fix = "set MODELPACK_HOME to move the store" if full else "set MODELPACK_HOME to a writable directory"
    if filename and _under(Path(filename), home):
        return f" (the local store MODELPACK_HOME={home})", store_fix
    if filename:  # not the store: MODELPACK_HOME would change nothing
        return "", _elsewhere(full, output)
    if output is not None:  # a failed write names no file: the store's or the output's
        return (f" (the local store MODELPACK_HOME={home}, or the output folder {output[1]})",
                f"{_elsewhere(full, output)}, or {store_fix}")
    return f" (the local store MODELPACK_HOME={home})", store_fix


def _elsewhere(full: bool, output: tuple[str, str] | None) -> str:
    """How to write outside the store somewhere else: the option that names the place, if the command has one."""
    option = output[0] if output is not None else "the output"
    return f"give {option} a folder on another filesystem" if full else f"give {option} a writable folder"


def _under(path: Path, home: Path) -> bool:
    path, home = path.absolute(), home.absolute()
    return path == home or home in path.parents
