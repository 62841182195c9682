"""Running a program another party controls (a credential helper, git in a downloaded folder) within bounds.

It gets a bounded time and its output is read up to a bounded size; past either it is killed with everything
it started (its own process group), so a child holding the pipe open cannot keep us waiting. Its standard
input is `data` (written as it reads, so a large one never blocks us) or /dev/null: it never reads ours.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

_CHUNK = 512  # bytes written per wake-up: at most PIPE_BUF, so a write to a writable pipe never blocks


@dataclass(frozen=True)
class Finished:
    """How a program ended: its exit status and all it printed."""

    returncode: int
    stdout: bytes
    stderr: bytes


class Overran(Exception):
    """The program ran past its time or printed past its output bound; it was killed.

    Attributes:
        bound: "time" or "output".
    """

    def __init__(self, bound: Literal["time", "output"]) -> None:
        self.bound = bound
        super().__init__(f"over its {bound} bound (killed)")


def run_bounded(argv: Sequence[str], *, timeout: float, max_output: int, data: bytes | None = None,
                env: Mapping[str, str] | None = None, max_memory: int | None = None) -> Finished:
    """Run `argv` to its end, or kill it at the first bound it passes.

    Args:
        argv: the program and its arguments.
        timeout: seconds it may take, output read and exit included.
        max_output: bytes it may print, stdout and stderr together.
        data: its standard input; None gives it /dev/null.
        env: its environment (None: ours).
        max_memory: bytes of data it may allocate (RLIMIT_DATA, where the system has prlimit: Linux), past
            which its allocations fail; None: no bound.

    Returns:
        Its exit status and output.

    Raises:
        OSError: it cannot be started (not found, not executable).
        Overran: it took longer than `timeout` or printed more than `max_output` (and was killed).
    """
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL if data is None else subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=None if env is None else dict(env),
                            start_new_session=True)
    if max_memory is not None:
        _limit_memory(proc.pid, max_memory)
    try:
        out, err = _exchange(proc, data, deadline, max_output)
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # it closed its output but runs on
            raise Overran("time") from None
    finally:
        if proc.poll() is None:
            _kill(proc)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):  # stdin's flush, when it never read it
                    stream.close()
    return Finished(proc.returncode, out, err)


def _exchange(proc: subprocess.Popen[bytes], data: bytes | None, deadline: float,
              max_output: int) -> tuple[bytes, bytes]:
    """Write `data` as the program reads it and read both outputs to their end (or raise Overran)."""
    assert proc.stdout is not None and proc.stderr is not None
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    total, left = 0, memoryview(data or b"")
    with selectors.DefaultSelector() as selector:  # (epoll: any descriptor number)
        for stream in (proc.stdout, proc.stderr):
            selector.register(stream, selectors.EVENT_READ)
        if proc.stdin is not None:
            selector.register(proc.stdin, selectors.EVENT_WRITE)
        while selector.get_map():
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise Overran("time")
            for key, _ in selector.select(wait):
                if key.fileobj is proc.stdin:
                    try:
                        left = left[os.write(key.fd, left[:_CHUNK]):] if left else left
                    except BrokenPipeError:  # it exited without reading all: its exit status says why
                        left = left[:0]
                    if not left:
                        selector.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                piece = os.read(key.fd, 65536)
                if not piece:
                    selector.unregister(key.fileobj)
                    continue
                total += len(piece)
                if total > max_output:
                    raise Overran("output")
                chunks[key.fd].append(piece)
    return b"".join(chunks[proc.stdout.fileno()]), b"".join(chunks[proc.stderr.fileno()])


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its children too: one holding our pipe would outlive it
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _limit_memory(pid: int, limit: int) -> None:
    """Bound what `pid` may allocate, set once it runs (not in the child before exec: a pre-exec hook is unsafe
    with threads running, as a push's are); what it allocated by then is a program's start-up, far below."""
    import resource

    prlimit = getattr(resource, "prlimit", None)  # (Linux only)
    if prlimit is not None:
        with contextlib.suppress(OSError, ValueError):  # it has exited already, or the limit cannot be lowered
            prlimit(pid, resource.RLIMIT_DATA, (limit, limit))
