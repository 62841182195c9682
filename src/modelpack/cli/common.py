"""Options shared by commands, and the one place errors become a single line and an exit code."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from modelpack.cli.escape import EscapingFormatter, clean
from modelpack.cli.file_types import CaFile, RegularFile
from modelpack.cli.stops import stopped

if TYPE_CHECKING:
    from modelpack.store.options import ClientOptions

F = TypeVar("F", bound=Callable[..., Any])


_TIMEOUT_KEY = "modelpack.timeout"
_VERBOSE_KEY = "modelpack.verbose"
VERBOSE_HELP = "Log each HTTP request (never credentials)."


def usable_seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Click callback for an option giving a timeout in seconds: the value, if it can bound a wait.

    Raises:
        click.BadParameter: nan, inf, 0 or less, or past MAX_TIMEOUT (FloatRange lets nan through, and inf
            without a maximum).
    """
    from modelpack.store.options import TIMEOUT_RANGE, usable_timeout

    if value is not None and not usable_timeout(value):
        raise click.BadParameter(f"{value} {TIMEOUT_RANGE}", ctx, param)
    return value


def _remember_timeout(ctx: click.Context, param: click.Parameter, value: float | None) -> None:
    # Not passed to the command: client_options() reads it, so commands keep their signatures.
    if usable_seconds(ctx, param, value) is not None:
        ctx.meta[_TIMEOUT_KEY] = value


def _remember_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    # ctx.meta is shared by the group's context and the command's: client_options() sees it there.
    if value:
        ctx.meta[_VERBOSE_KEY] = True


def global_verbose_option(func: F) -> F:
    """`modelpack -v COMMAND`: the same as `COMMAND -v`. A command that talks to no registry makes no
    HTTP request, so there it has nothing to log (accepted, not an error)."""
    return click.option("-v", "--verbose", is_flag=True, expose_value=False, callback=_remember_verbose,
                        help="Log each HTTP request (never credentials): the same as -v after the command.")(func)


def network_options(func: F) -> F:
    """--plain-http, --insecure, --ca-file, --timeout and -v on every command that talks to a registry."""
    func = click.option("--timeout", type=click.FloatRange(min=0, min_open=True), envvar="MODELPACK_TIMEOUT",
                        expose_value=False, callback=_remember_timeout, metavar="SECONDS",
                        help="Give up on a registry request after this long in all, retries included "
                             "(default 120, at most 1000000; env MODELPACK_TIMEOUT). Blob transfers run while they "
                             "make progress, and fail after min(30, SECONDS) without it.")(func)
    func = click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)(func)
    func = click.option("--ca-file", type=CaFile(),
                        help="PEM file of CA certificates to trust for the registry.")(func)
    func = click.option("--insecure", is_flag=True, help="Skip TLS certificate verification (unsafe).")(func)
    func = click.option("--plain-http", is_flag=True, envvar="MODELPACK_PLAIN_HTTP",
                        help="Talk HTTP instead of HTTPS (local test registries).")(func)
    return func


def signature_policy_option(func: F) -> F:
    """--signature-policy on every command that fetches a model from a registry to use or deploy it."""
    return click.option("--signature-policy", type=RegularFile(), metavar="FILE",
                        help="containers-policy.json(5) the model's reference must satisfy (default: "
                             "$MODELPACK_SIGNATURE_POLICY, else ~/.config/containers/policy.json, else "
                             "/etc/containers/policy.json; none: no check).")(func)


def link_force_options(func: F) -> F:
    """--link and --force for commands that restore files (pull -o, unpack)."""
    func = click.option("--force", is_flag=True, help="Restore into an existing directory: replace the files "
                        "that differ, leave equal files and files not in the model alone.")(func)
    func = click.option("--link", is_flag=True, help="Hard-link the files to the local store's blobs instead of "
                        "copying them (same filesystem; on another one they are copies, with a warning); they are made "
                        "read-only, and the model stays in the local store (`pull --link` keeps it there).")(func)
    return func


def selection_options(func: F) -> F:
    """--include, --exclude and --kind (each repeatable) for commands that take some of a model's layers."""
    from modelpack.oci.mediatypes import KINDS

    func = click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS),
                        help="Take layers of this kind (adds to --include). Repeatable.")(func)
    func = click.option("--exclude", multiple=True, metavar="GLOB",
                        help="Leave out layers whose path matches (wins over --include and --kind). Repeatable.")(func)
    func = click.option("--include", multiple=True, metavar="GLOB",
                        help="Take layers whose path matches (`*.json`, `weights/**`, a folder). Repeatable.")(func)
    return func


def layer_selection(include: tuple[str, ...], exclude: tuple[str, ...], kinds: tuple[str, ...]) -> Any:
    """The LayerSelection the options name (None: every layer)."""
    if not (include or exclude or kinds):
        return None
    from modelpack.selection import LayerSelection

    return LayerSelection.of(include, exclude, kinds)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


def _log_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """`warnings.showwarning` through the escaping handler: a library's warning may quote a model file
    (scikit-learn quotes the version a .skops file records), and `warnings` wrote it raw."""
    logging.getLogger("py.warnings").warning("%s: %s", category.__name__, message)


class _StderrLog(logging.StreamHandler):
    """The handler `configure_logging` installs (told apart from others, e.g. a test runner's). It writes
    to `sys.stderr` as it is when a line is logged: while a progress bar is drawn, rich puts a proxy there
    that prints the line above the bar (the stream of the start glued a warning to the bar's end)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always sys.stderr, whatever StreamHandler.__init__ or setStream are given


def configure_logging(*, verbose: bool = False) -> None:
    """Log lines on stderr, escaped: warnings always (`main` calls this first), everything with -v.

    Without it a library warning reached the terminal through Python's last-resort handler, raw: a layer
    path a registry chose, with its escape sequences; Python warnings (`warnings.warn`) go the same way.
    Where `main` did not run (a command invoked in process), -v installs a handler only if the root
    logger has none, as before.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _StderrLog)), None)
    if handler is None and (not verbose or not root.handlers):
        handler = _StderrLog(sys.stderr)
        root.addHandler(handler)
    if handler is not None:
        handler.setFormatter(EscapingFormatter("%(name)s: %(message)s" if verbose else "%(message)s"))
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    warnings.showwarning = _log_warning
    if verbose:
        # urllib3 logs URLs only; headers (and so credentials) are never logged by it at any level.
        logging.getLogger("urllib3").setLevel(logging.INFO)


def client_options(plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool) -> ClientOptions:
    from modelpack.store.options import ClientOptions

    ctx = click.get_current_context(silent=True)
    verbose = verbose or (ctx is not None and bool(ctx.meta.get(_VERBOSE_KEY)))
    if verbose:
        configure_logging(verbose=True)
    options = ClientOptions(plain_http=plain_http, insecure=insecure, ca_file=ca_file)
    if ctx is not None and _TIMEOUT_KEY in ctx.meta:
        options.timeout = float(ctx.meta[_TIMEOUT_KEY])
    if sys.stderr.isatty() and not verbose:
        # On a terminal, say what we are waiting for and when we retry; -v logs it anyway.
        options.on_retry = lambda message: click.echo(clean(message), err=True)  # a redirect chose its URL
    return options


def warning(message: str) -> None:
    """Show a warning on stderr, escaped: API warnings carry file names and registry text."""
    click.echo(f"warning: {clean(message)}", err=True)


def visit_host(host: str) -> str:
    """The host part of a URL this machine's browser or curl can open for a server listening on `host`:
    every interface (0.0.0.0, ::) is not an address to visit, so loopback stands in; IPv6 in brackets."""
    return {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, f"[{host}]" if ":" in host else host)


def plural(count: int, noun: str) -> str:
    """`1 file`, `2 files`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def fail(message: str, code: int = 1) -> None:
    """Print `error: MESSAGE` (escaped: it may quote a registry's words) and exit with `code`."""
    click.echo(f"error: {clean(message)}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Turn every expected failure into `error: <one line>` and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from modelpack.errors import ModelpackError

        try:
            load_api()
            return func(*args, **kwargs)
        except ModelpackError as exc:
            from modelpack.advice import cli_message
            from modelpack.errors import InsufficientSpaceError

            message = _one_line(cli_message(exc))  # its advice as commands and flags
            if isinstance(exc, InsufficientSpaceError):  # ... and, for a place short of space, how to move it
                from modelpack.cli.os_errors import short_of_space

                message += short_of_space(exc.place, _written_outside_store(kwargs))
            fail(message, exc.exit_code)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (stops.Terminated)
            fail(*stopped(exc))
        except BrokenPipeError:  # `modelpack ls | head -1`: the reader left; nothing to say to it
            silence_stdout()
            sys.exit(1)
        except (click.ClickException, click.Abort):
            raise  # a usage mistake (or ^C at a prompt): main() prints it as one line
        except OSError as exc:
            from modelpack.cli.os_errors import describe

            fail(describe(exc, _written_outside_store(kwargs)), 1)
        except Exception as exc:  # a bug of ours: still one line, the details on request
            if os.environ.get("MODELPACK_DEBUG"):
                raise
            fail(f"internal error ({type(exc).__name__}: {_one_line(str(exc))}); "
                 "set MODELPACK_DEBUG=1 for a traceback", 70)

    return wrapper  # type: ignore[return-value]


def _written_outside_store(params: dict[str, Any]) -> tuple[str, str] | None:
    """(option, value) of the command's option naming a folder it writes outside the store (pull -o DIR,
    generate-key-pair -d DIR), if given: a full or read-only one is moved by that option, not MODELPACK_HOME."""
    for name, option in (("output", "-o"), ("directory", "-d")):
        value = params.get(name)
        if isinstance(value, str) and value != "-":
            return option, value
    return None


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone, so the interpreter's last flush at exit
    does not print "Exception ignored ... BrokenPipeError"."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def load_api() -> None:
    """Import the Python API every command wraps (inside the error handler: a broken install is one line too)."""
    import modelpack.api  # noqa: F401


def _one_line(text: str) -> str:
    return " ".join(text.split())


def write_output(output: str, data: bytes) -> None:
    """Write a document a command was asked to put in the file `output` (-o): to a temporary name beside
    it, then renamed over it, so a report or BOM filed as evidence is never half-written; a device or a
    pipe (-o /dev/stderr, a FIFO) is written in place, never replaced by a file.

    Raises:
        OSError: the place is read-only or full (named, as pull -o's is: exit 1 with the fix).
        UsageError: the file cannot be written for another reason (why).
    """
    import errno
    import stat
    from pathlib import Path

    from modelpack.errors import UsageError
    from modelpack.files import atomic_write, new_file_mode

    path = Path(output)
    try:
        try:
            special = not stat.S_ISREG(path.stat().st_mode)
        except FileNotFoundError:
            special = False
        if special:
            with path.open("wb") as stream:
                stream.write(data)
        else:
            atomic_write(path, data, mode=new_file_mode())
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            # Not the user's mistake (exit 2): where it happened, with `-o` as the fix, as for pull -o (exit 1).
            raise OSError(exc.errno, exc.strerror, output) from None
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
