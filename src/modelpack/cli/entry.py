"""The `modelpack` command's entry point, importing only the standard library itself: a Ctrl-C or a
SIGTERM in the first ~100 ms, while click and every command's options are imported, ends the command as
one later does (one line, exit 130 or 143), not with a traceback of the import it interrupted.

What runs before `main`'s `try` (finding and running this module and its two packages' `__init__`) is
kept to a minimum: a Ctrl-C there still prints the traceback of what it interrupted. `typing` alone took
~9 ms of a ~20 ms start (with `re`, `enum`, `functools`), so neither this module nor `modelpack/__init__`
imports anything at run time (not `__future__`, nor the public names' list: annotations are strings),
and `signal` (with `enum`) is imported inside the `try`. Before that is Python's own start-up (its
`encodings` and `io`, `site` and the `.pth` files, `runpy` for `python -m`), which no code of ours can
cover: a Ctrl-C there ends Python with its own traceback (or "Fatal Python error"), or, before Python
installs its handler, kills it silently.

A Ctrl-C landing in a class's `__set_name__` comes wrapped in a RuntimeError (Python 3.11): it is unwrapped.
A Ctrl-C can also land in code Python calls where nothing can raise (the import lock's weakref callback,
a `__del__`): Python prints "Exception ignored" with a traceback and goes on, so an interrupted command
ran to its end. While the command imports, such a stop is kept and raised once the imports are done.
"""

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import NoReturn


def main() -> "NoReturn":
    """Run `modelpack` with the arguments in `sys.argv`; exit with its status."""
    try:
        from modelpack.cli import stops

        keep = sys.unraisablehook = stops.KeepStops(sys.unraisablehook)
        stops.stop_on_sigterm_as_on_ctrl_c()
        if sys.argv[1:] == ["--version"]:
            run = _version  # answered without click (see there)
        else:
            from modelpack.cli.main import main as run

        keep.redeliver = True  # from now on a stop Python cannot raise is sent again (see KeepStops)
        if keep.kept is not None:
            raise keep.kept
        run()  # inside the `try`: a stop before the command's own handling starts (logging set up) too
    except KeyboardInterrupt as exc:
        _stop(exc)
    except RuntimeError as exc:
        # A Ctrl-C landing in a class body's `__set_name__` (ipaddress's, imported by pathlib) reaches us
        # wrapped: "Error calling __set_name__ ...", caused by the KeyboardInterrupt. It is that stop.
        cause = exc.__cause__
        if not isinstance(cause, KeyboardInterrupt):
            raise
        _stop(cause)


def _version() -> "NoReturn":
    """`modelpack --version` alone: the line click's version option prints (tests/test_cli_version.py
    compares them), without importing click and the group's options, half of a ~50 ms start. With anything
    else on the line (`-v --version`, a command) click answers."""
    from modelpack.cli.stops import ignore_stop_signals_once_done
    from modelpack.version import __version__

    code = 0
    try:
        sys.stdout.write(f"modelpack, version {__version__}\n")
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed pipe: the output did not arrive (as modelpack.cli.main's `_exit`)
        from modelpack.cli.common import silence_stdout

        code = 1
        silence_stdout()
    ignore_stop_signals_once_done()
    sys.exit(code)


def _stop(exc: KeyboardInterrupt) -> "NoReturn":
    from modelpack.cli.stops import ignore_stop_signals_once_done, stopped

    message, code = stopped(exc)
    sys.stderr.write(f"error: {message}\n")
    ignore_stop_signals_once_done()
    sys.exit(code)
