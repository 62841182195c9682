"""Standard input as modelpack reads it (a password, a predicate) or asks on it (a terminal).

A process may start with fd 0 closed (`cmd <&-`: Python then sets `sys.stdin` to None) or open for writing
only (`cmd 0>FILE`: every read fails with EBADF). Both are a caller's mistake, to be said in one line,
never a traceback. (fd 0 a directory, `cmd < /`, never reaches modelpack: CPython stops at startup,
before any Python code runs, with "Fatal Python error: init_sys_streams: <stdin> is a directory".)
"""

from __future__ import annotations

import sys

from modelpack.errors import UsageError


def is_terminal() -> bool:
    """Whether standard input is a terminal a prompt can read from (False when fd 0 is closed)."""
    return sys.stdin is not None and sys.stdin.isatty()


def read_bytes(limit: int, what: str) -> bytes:
    """Up to `limit` bytes of standard input, to its end; b"" when standard input is closed.

    Args:
        limit: the most bytes read (the caller reads one more than it accepts to tell "too long").
        what: what is read, for the error ("the password").

    Returns:
        The bytes read.

    Raises:
        UsageError: standard input cannot be read (e.g. opened for writing only).
    """
    if sys.stdin is None:  # (started with fd 0 closed)
        return b""
    try:
        return sys.stdin.buffer.read(limit)
    except OSError as exc:
        raise UsageError(f"cannot read {what} from standard input ({exc.strerror or exc}): pipe it in "
                         "(`... | modelpack ...`) or redirect a file (`< FILE`)") from None
