"""Click parameter types for files the user names: they must be regular files, checked before use.

click.Path(exists=True, dir_okay=False) accepts a FIFO or a device, and reading one can block forever
(`--key /tmp/fifo`); a CA file with no certificate in it was only noticed as a failed TLS handshake.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import click


class RegularFile(click.Path):
    """A regular file (links to one are fine), if it exists (`exists`: it must); a FIFO, device or
    socket is a usage error (exit 2). A missing file is left to the command, which names what it is."""

    def __init__(self, exists: bool = False) -> None:
        super().__init__(exists=exists, dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
            self.fail(f"{os.fsdecode(path)!r} is not a regular file (a FIFO, device or socket cannot be read "
                      "safely)", param, ctx)
        return path


class CaFile(RegularFile):
    """An existing regular file holding at least one PEM certificate that Python's TLS can load."""

    def __init__(self) -> None:
        super().__init__(exists=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import ssl  # here, not at import: ~20 ms of every command's start-up for one option

        path = super().convert(value, param, ctx)
        try:
            ssl.create_default_context().load_verify_locations(cafile=path)
        except (ssl.SSLError, OSError, ValueError):
            self.fail(f"no PEM certificate in {os.fsdecode(path)!r} (expected -----BEGIN CERTIFICATE-----)",
                      param, ctx)
        return path
