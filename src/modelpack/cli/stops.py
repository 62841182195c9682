"""How the `modelpack` command stops on Ctrl-C and SIGTERM: one line, exit 130 or 143, the same clean-up
for both, and no signal undoing a finished command's status. Imported by the entry point inside its
`try` (modelpack.cli.entry), so a stop while this is imported is caught too.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a SIGTERM while typing is
if TYPE_CHECKING:  # imported would find no handler set yet (tests/test_early_signal.py)
    from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: the same clean-up runs (a pull's hidden folder removed, a
    staging folder emptied), where the default action ended the process at once and left them."""


_received: list[int] = []  # SIGTERMs turned into Terminated so far


def _terminated(signum: int, frame: Any) -> None:
    _received.append(signum)
    raise Terminated


def terminated_meanwhile() -> bool:
    """Whether a SIGTERM has been raised as `Terminated` in this process: an import it interrupted may
    surface later as an ImportError (a half-initialised extension), which is the stop, not a missing module."""
    return bool(_received)


def stop_on_sigterm_as_on_ctrl_c() -> None:
    """SIGTERM from now on raises `Terminated` in the main thread (serve installs its own meanwhile)."""
    import signal

    signal.signal(signal.SIGTERM, _terminated)


def stopped(exc: BaseException) -> tuple[str, int]:
    """The one line and the exit code for a Ctrl-C (`KeyboardInterrupt`) or a SIGTERM (`Terminated`)."""
    return ("terminated", 143) if isinstance(exc, Terminated) else ("interrupted", 130)


def ignore_stop_signals_once_done() -> None:
    """The command's work is done and its output flushed: SIGINT and SIGTERM are ignored from now on,
    or, while threads of ours are still running, once Python has joined them at exit (a Ctrl-C can
    still end a thread that would not finish).

    Python sets a stop signal's handling back to the default before it finalizes its modules (tens of
    ms with serve's or push's imports loaded): a signal then ended the finished command silently, as
    killed by it (-2, -15), and a script took a completed pull or push for a failed one. An ignored
    signal stays ignored through finalization, so the exit status stays the work's.
    """
    import threading

    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    if any(t.is_alive() for t in others):
        import atexit

        atexit.register(_ignore_stop_signals)  # atexit runs once Python has joined the non-daemon threads
    else:
        _ignore_stop_signals()


def _ignore_stop_signals() -> None:
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    _forget_ctrl_c_in_exec()


def _forget_ctrl_c_in_exec() -> None:
    """Clear CPython's note that a Ctrl-C went uncaught, which a Ctrl-C caught by us can leave set.

    CPython (since bpo-1054041) kills itself with SIGINT at exit, whatever status `sys.exit` gave, under
    `python -m` when it noted an uncaught KeyboardInterrupt; but it takes one leaving code that `exec` or
    `eval` runs from a string as uncaught, even when a caller catches it. Imports run such code (every
    dataclass's methods, namedtuples: ~400 execs while `push` imports its modules), so a Ctrl-C landing
    in one ended an interrupted command as killed by SIGINT (-2) after its `error: interrupted` (4 pushes
    and 7 pulls in 120 interrupted at random). Each string eval resets the note as it starts, and none can
    be interrupted once the signals are ignored. (A SIGTERM raises `Terminated`, which CPython does not
    take for a Ctrl-C; the `modelpack` console script leaves Python by a path that skips the check.)
    """
    exec("")  # resets the note: see above


class KeepStops:
    """A `sys.unraisablehook` for the command's life: a Ctrl-C or SIGTERM landing where Python cannot raise
    (the import lock's weakref callback, a `__del__`) was printed as "Exception ignored" with a traceback
    and lost, so the interrupted command ran to its end. While the command imports, this keeps it (`kept`)
    for the entry point to raise once the imports are done; once it runs (`redeliver`), the signal is sent
    again from another thread, so that it lands where the command stops on it (the modules a command
    imports as it runs: 2 of 15 runs of 60 interrupted starts lost one). Anything else goes to the hook
    it replaces."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous
        self.kept: KeyboardInterrupt | None = None
        self.redeliver = False

    def __call__(self, unraisable: Any) -> None:
        stop = unraisable.exc_value
        if not isinstance(stop, KeyboardInterrupt):
            self.previous(unraisable)
        elif not self.redeliver:
            self.kept = self.kept if self.kept is not None else stop
        else:
            import signal
            import threading

            # Not raised in this hook (it would be one more exception Python cannot raise): the thread sends
            # it once told to, as this hook's last step, so it lands after the hook has returned.
            number = signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT
            told = threading.Event()
            threading.Thread(target=_send_when_told, args=(told, number), name="modelpack-stop", daemon=True).start()
            told.set()


def _send_when_told(told: Any, number: int) -> None:
    import signal

    told.wait()
    signal.raise_signal(number)
