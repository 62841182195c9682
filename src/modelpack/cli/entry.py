"""The `modelpack` command's entry point, importing only the standard library itself: a Ctrl-C or a
SIGTERM in the first ~100 ms, while click and every command's options are imported, ends the command as
one later does (one line, exit 130 or 143), not with a traceback of the import it interrupted."""

from __future__ import annotations

import signal
import sys
from typing import Any, NoReturn


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: the same clean-up runs (a pull's hidden folder removed, a
    staging folder emptied), where the default action ended the process at once and left them."""


def _terminated(signum: int, frame: Any) -> None:
    raise Terminated


def stop_on_sigterm_as_on_ctrl_c() -> None:
    """SIGTERM from now on raises `Terminated` in the main thread (serve installs its own meanwhile)."""
    signal.signal(signal.SIGTERM, _terminated)


def stopped(exc: BaseException) -> tuple[str, int]:
    """The one line and the exit code for a Ctrl-C (`KeyboardInterrupt`) or a SIGTERM (`Terminated`)."""
    return ("terminated", 143) if isinstance(exc, Terminated) else ("interrupted", 130)


def main() -> NoReturn:
    """Run `modelpack` with the arguments in `sys.argv`; exit with its status."""
    stop_on_sigterm_as_on_ctrl_c()
    try:
        from modelpack.cli.main import main as run
    except KeyboardInterrupt as exc:
        message, code = stopped(exc)
        sys.stderr.write(f"error: {message}\n")
        sys.exit(code)
    run()
