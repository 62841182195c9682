"""A `serve --workers` worker ends when its parent does, however the parent ends (SIGKILL, OOM kill, crash).

The workers run in sessions of their own (terminal signals reach them once, through the parent), so
nothing else would stop them: a supervisor that kills the parent would leave them holding the port
and the model. Two mechanisms, each enough on its own:

- a pipe: the parent holds its write end and never writes; when the parent is gone, however, the
  kernel closes that end and the worker's read sees end-of-file. This works on every POSIX system and
  has no race: a parent already gone when the worker starts is an end-of-file at once.
- on Linux, `prctl(PR_SET_PDEATHSIG, SIGTERM)`: the kernel signals the worker itself, even while no
  thread of it could run Python. A parent gone before the call is caught by the pipe.

Either way the worker gets SIGTERM, and stops as it does on a supervisor's SIGTERM: requests in flight
finish, then it exits (while still loading the model, it stops loading and removes what it unpacked). A
worker that exits after its parent removes their metrics folder, as the parent would have.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import sys

from modelpack.ready import ready
from modelpack.threads import worker_thread

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def end_with_parent(fd: int) -> None:
    """Send this process SIGTERM when the parent holding the write end of pipe `fd` is gone.

    Args:
        fd: the read end of a pipe whose write end only the parent holds (`workers.run_workers`).
    """
    # SIGTERM while the worker loads is a stop as any command's (stops.Terminated), not the default action:
    # that ended it with the model's unpacked copy left in TMPDIR (a copy of the model per worker).
    _parent_death_signal()
    atexit.register(_remove_metrics_if_orphaned, fd)
    # Its own SIGTERM must reach the main thread, where Python handles it (see modelpack.threads).
    worker_thread(_watch, fd, name="modelpack-parent-watch", daemon=True).start()


def _watch(fd: int) -> None:
    try:
        while os.read(fd, 64):  # the parent writes nothing: only end-of-file (or an error) ends this
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def _remove_metrics_if_orphaned(fd: int) -> None:
    """At exit: the metrics folder the parent would have removed, when the parent is gone."""
    from modelpack.serve.metrics import SHARED_DIR_ENV

    try:
        readable = ready(read=[fd], timeout=0)  # the parent never writes: readable is end-of-file
    except (OSError, ValueError):  # no such descriptor: not ours to remove
        return
    if readable and (shared := os.environ.get(SHARED_DIR_ENV)):
        shutil.rmtree(shared, ignore_errors=True)


def _parent_death_signal() -> None:
    """Linux only; elsewhere, or where libc has no prctl, the pipe alone does it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass
