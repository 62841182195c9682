"""A yes/no question on the terminal whose wait a Ctrl-C (or SIGTERM) always ends.

`click.confirm` reads with a plain blocking `read(2)`. Python's C-level handler only sets a flag for
the main thread to act on, so a signal that lands just before the read begins (after the interpreter
last checked the flag), or in a thread other than the main one, left the main thread reading: the
command sat at its `[y/N]` prompt until Enter (seen: 2 of 82 Ctrl-Cs typed as the prompt appeared,
on a real pty). Here the wait is a poll(2) on the terminal and on a wake-up pipe, which that C-level
handler writes to whatever thread it runs in and whenever the signal comes (the self-pipe), so the
wait ends and the main thread raises the handler's exception at once.
"""

from __future__ import annotations

import os
import signal
import sys

import click

from modelpack.ready import ready as wait_ready


def confirm(question: str) -> bool:
    """Ask `question [y/N]: ` on stdout and read the answer from stdin (the main thread only).

    Args:
        question: the question, without the `[y/N]`.

    Returns:
        True for y/yes, False for n/no or an empty answer; anything else asks again.

    Raises:
        EOFError: stdin ended before an answer.
        KeyboardInterrupt: Ctrl-C (or SIGTERM, as `Terminated`) while waiting.
    """
    while True:
        click.echo(f"{question} [y/N]: ", nl=False)
        line = read_line(sys.stdin.fileno())
        if line is None:
            raise EOFError
        answer = line.strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("", "n", "no"):
            return False
        click.echo("Error: invalid input")


def read_line(fd: int) -> str | None:
    """One line from `fd` (a terminal or a pipe), or None at end of input with nothing read; a signal
    with a Python handler ends the wait, and its exception is raised. Main thread only
    (`signal.set_wakeup_fd`).

    Args:
        fd: the file descriptor to read.

    Returns:
        The line (with its newline, if it had one), or None.
    """
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    previous = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    try:
        data = b""
        while not data.endswith(b"\n"):
            ready = wait_ready(read=[fd, wake_read])
            if wake_read in ready:
                # A signal came: its handler runs (and raises) at the next call; one that returned lets us wait on.
                os.read(wake_read, 512)
            if fd in ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return data.decode(errors="replace") if data else None
                data += chunk
        return data.decode(errors="replace")
    finally:
        signal.set_wakeup_fd(previous)
        os.close(wake_read)
        os.close(wake_write)
