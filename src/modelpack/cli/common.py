"""Options shared by commands, and the one place errors become a single line and an exit code."""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from modelpack.store.client import ClientOptions

F = TypeVar("F", bound=Callable[..., Any])


def network_options(func: F) -> F:
    """--plain-http, --insecure, --ca-file and -v on every command that talks to a registry."""
    func = click.option("-v", "--verbose", is_flag=True, help="Log each HTTP request (never credentials).")(func)
    func = click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
                        help="PEM file of CA certificates to trust for the registry.")(func)
    func = click.option("--insecure", is_flag=True, help="Skip TLS certificate verification (unsafe).")(func)
    func = click.option("--plain-http", is_flag=True, envvar="MODELPACK_PLAIN_HTTP",
                        help="Talk HTTP instead of HTTPS (local test registries).")(func)
    return func


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


def client_options(plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool) -> ClientOptions:
    from modelpack.store.client import ClientOptions

    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s", stream=sys.stderr)
        # urllib3 logs URLs only; headers (and so credentials) are never logged by it at any level.
        logging.getLogger("urllib3").setLevel(logging.INFO)
    return ClientOptions(plain_http=plain_http, insecure=insecure, ca_file=ca_file)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
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
            fail(_one_line(str(exc)), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except (click.ClickException, click.Abort):
            raise  # a usage mistake (or ^C at a prompt): main() prints it as one line
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}", 1)
        except Exception as exc:  # a bug of ours: still one line, the details on request
            if os.environ.get("MODELPACK_DEBUG"):
                raise
            fail(f"internal error ({type(exc).__name__}: {_one_line(str(exc))}); "
                 "set MODELPACK_DEBUG=1 for a traceback", 70)

    return wrapper  # type: ignore[return-value]


def load_api() -> None:
    """Import the Python API every command wraps, with the garbage collector paused (`main` pauses it):
    loading creates some 300,000 long-lived objects, and collecting among them while they are being
    created costs ~10 ms of start-up for nothing. Afterwards they are frozen out of later collections."""
    import modelpack.api  # noqa: F401

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _one_line(text: str) -> str:
    return " ".join(text.split())
