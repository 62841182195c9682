"""`serve --workers N`: N processes accepting on one listening socket, each with its own copy of the model.

The parent binds the socket (so a port in use is its one-line error), then starts N `modelpack serve`
processes with the same arguments and the socket's descriptor (`--listen-fd`). Each loads the model itself
(after fork, a model's thread pools would not be there) and serves on the shared socket; the kernel
spreads connections over them. The parent says which model it serves (the workers' line, once) and "serving
on" once all are ready, passes SIGTERM/SIGINT
on (as SIGTERM, which a worker still loading cannot have ignored), and exits when they have finished
their requests in flight: 0 when every worker stopped cleanly.
Each worker also holds the read end of a pipe only the parent can write to (`--parent-fd`): if the
parent dies without passing a signal on (SIGKILL), the workers stop too (`parent_watch`).
The workers count into one folder of metrics files (`metrics.SHARED_DIR_ENV`), so /metrics from any of
them is the whole server's; the parent removes the folder when they have all exited.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from modelpack.cli.escape import clean
from modelpack.serve.http_server import again_line, stopping_line
from modelpack.threads import worker_thread


def run_workers(arguments: list[str], sock: socket.socket, workers: int, ready: Callable[[], None],
                first: Callable[[], None] | None = None) -> int:
    """Run `workers` serve processes on `sock` until they exit.

    Args:
        arguments: the `serve` command's arguments (without the program name); `--workers 1 --listen-fd FD
            --parent-fd FD` are appended.
        sock: the bound, listening socket.
        workers: how many processes.
        ready: called once every worker said it is serving, after the workers' model line (said once).
        first: called once the first worker said it is serving (the model answers on the port from then on).

    Returns:
        The exit status: 0 when all workers exited 0, else the first non-zero status.
    """
    from modelpack.serve.metrics import SHARED_DIR_ENV

    # Only this process holds the write end (os.pipe's ends are not inherited): its end-of-file in a
    # worker means this process is gone.
    alive, holder = os.pipe()
    command = [sys.executable, "-m", "modelpack", *arguments, "--workers", "1", "--listen-fd", str(sock.fileno()),
               "--parent-fd", str(alive)]
    shared = tempfile.mkdtemp(prefix="modelpack-metrics-")
    env = {**os.environ, SHARED_DIR_ENV: shared}
    procs: list[subprocess.Popen[str]] = []
    stopping, again = threading.Event(), threading.Event()

    def stop(signum: int, frame: Any) -> None:
        # SIGTERM whatever came: a worker still loading may ignore SIGINT (inherited from a shell's `&`),
        # and it stops on SIGTERM exactly as on SIGINT once serving.
        stopping.set()
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def on_signal(signum: int, frame: Any) -> None:
        # Said here, once, with the signal the user sent (SIGINT for Ctrl-C); the workers' own lines,
        # one per worker and all naming our SIGTERM, are not relayed.
        if not stopping.is_set():
            logging.getLogger("modelpack.serve").info("%s", stopping_line(signum))
        elif not again.is_set():  # the workers stop at once on our second SIGTERM
            again.set()
            logging.getLogger("modelpack.serve").info("%s", again_line(signum))
        stop(signum, frame)

    # Before the workers exist: a signal that comes while they start must reach them all.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for _ in range(workers):
            # Any bytes may come (a native library's log): one that is not UTF-8 is shown as \xNN, as
            # `clean` shows a control character, instead of ending the relay (and with it "serving on").
            procs.append(subprocess.Popen(command, pass_fds=(sock.fileno(), alive), stderr=subprocess.PIPE,
                                          encoding="utf-8", errors="backslashreplace", env=env,
                                          start_new_session=True))  # terminal signals come through the parent, once
    except BaseException:
        stop(signal.SIGTERM, None)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        raise
    finally:
        os.close(alive)
    started = threading.Semaphore(0)
    # Born with the stop signals blocked: the main thread, waiting in waitpid, must be the one they reach.
    errors = _ErrorLines()
    model_lines: list[str] = []
    relays = [worker_thread(_relay, proc, started, shared, stopping, errors, model_lines, name="modelpack-relay",
                            daemon=True)
              for proc in procs]
    for relay in relays:
        relay.start()

    try:
        sock.close()  # the workers hold it now
        if _all_started(procs, started, first) and not stopping.is_set():
            if model_lines:  # each worker said it before its "serving on": the same line, shown once
                sys.stderr.write(model_lines[0])
                sys.stderr.flush()
            ready()
            served = True
        else:
            served = stopping.is_set()  # stopped as asked while loading, else a worker could not start
            stop(signal.SIGTERM, None)
        codes = [proc.wait() for proc in procs]
        if stopping.is_set():  # a worker our SIGTERM ended while it loaded stopped as asked (else exit 241)
            codes = [0 if code in _STOPPED else code for code in codes]
        for relay in relays:
            relay.join(10)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(holder)
        shutil.rmtree(shared, ignore_errors=True)
    if served:  # a server that never started says why (its error), not that it stopped
        logging.getLogger("modelpack.serve").info("stopped")
    return next((code for code in codes if code != 0), 0)


def _all_started(procs: list[subprocess.Popen[str]], started: threading.Semaphore,
                 first: Callable[[], None] | None = None) -> bool:
    """Wait until each worker said "serving on" (calling `first` after the first did), or one exited before
    it did."""
    for count in range(len(procs)):
        while not started.acquire(timeout=0.2):
            if any(proc.poll() is not None for proc in procs):
                return False
        if count == 0 and first is not None:
            first()
    return True


# What `serve` says of the model before "serving on" (cli.deploy_commands): one line of its own format.
_MODEL_LINE = re.compile(r"model [^\n]+: POST http://\S+/v2/models/\S+/infer")

# A worker our SIGTERM ended: by the signal (while loading a model) or, still importing, as any command
# SIGTERM ends (modelpack.cli.entry).
_STOPPED = (-signal.SIGTERM, 128 + signal.SIGTERM)


class _ErrorLines:
    """The "error: ..." and "warning: ..." lines relayed so far: each worker that cannot load the model
    says why (or warns of what it loads), the same line N times; it is shown once, as one `serve` says it."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first(self, line: str) -> bool:
        """Whether `line` is not an error or warning line already relayed (and, from now on, it is)."""
        if not line.startswith(("error: ", "warning: ")):
            return True
        with self._lock:
            new = line not in self._seen
            self._seen.add(line)
        return new


def _relay(proc: subprocess.Popen[str], started: threading.Semaphore, shared: str,
           stopping: threading.Event, errors: _ErrorLines, model_lines: list[str]) -> None:
    """Copy a worker's log lines to our stderr, counting (not copying) its "serving on" line, keeping (not
    copying) its model line for the parent to say once, and not its "error: terminated" or "SIGTERM
    received [again]" when we stopped it (the parent said it once); once it has exited, it no longer counts among
    the running workers in /metrics.

    Lines are escaped (`clean`): our own log lines already are (so they pass unchanged), but a native
    library or a trusted pickle's code writes to fd 2 past our logging, quoting what a model file holds."""
    assert proc.stderr is not None
    ours = ("error: terminated", stopping_line(signal.SIGTERM), again_line(signal.SIGTERM))
    said_model = False
    for line in proc.stderr:
        if line.startswith("serving on "):
            started.release()
        elif not said_model and _MODEL_LINE.fullmatch(line.removesuffix("\n")):
            said_model = True
            model_lines.append(clean(line.removesuffix("\n")) + "\n")  # (list.append: one step under the GIL)
        elif (line.strip() != "stopped" and not (stopping.is_set() and (line.strip() in ours
                                                                          or line.startswith(ours[2])))
              and errors.first(line)):
            sys.stderr.write(clean(line.removesuffix("\n")) + "\n")
            sys.stderr.flush()
    proc.wait()
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(proc.pid, shared)
