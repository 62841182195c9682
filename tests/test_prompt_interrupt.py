"""A Ctrl-C at `rm --remote`'s `[y/N]` prompt always ends the command (exit 130, one line, nothing
deleted), on a real pty that is the command's controlling terminal, whenever it is typed and whichever
thread the signal reaches; a SIGTERM there ends it as `terminated` (exit 143). Once a Ctrl-C typed as
the prompt appeared left the command reading its terminal until Enter (2 of 82 tries)."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


def _controlling_terminal() -> None:
    """In the child: the pty on stdin becomes its controlling terminal, so ^C is the kernel's SIGINT."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _read_until(stream: object, marker: bytes) -> bytes:
    shown = b""
    while marker not in shown and (byte := stream.read(1)):  # type: ignore[attr-defined]
        shown += byte
    return shown


@pytest.mark.parametrize(("stop", "delay"), [("ctrl-c", 0.0), ("ctrl-c", 0.0), ("ctrl-c", 0.0), ("ctrl-c", 0.01),
                                             ("ctrl-c", 0.2), ("sigterm", 0.0)])
def test_ctrl_c_typed_at_the_rm_prompt_ends_it(registry: Registry, tmp_path: Path, stop: str, delay: float) -> None:
    repo = registry.repo()
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(500))
    mp.push(model, f"{repo}:1.0.0", options=PLAIN)
    assert modelpack("tag", "--remote", "--plain-http", f"{repo}:1.0.0", "champion").code == 0
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "rm", "--remote", "--plain-http", "--all-tags",
                             f"{repo}:champion"], stdin=secondary, stdout=subprocess.PIPE, bufsize=0,
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_controlling_terminal)
    assert proc.stdout is not None
    try:
        shown = _read_until(proc.stdout, b"[y/N]: ")
        time.sleep(delay)  # when the user types it: as the prompt appears, or a little later
        if stop == "ctrl-c":
            os.write(primary, b"\x03")  # Ctrl-C, turned into SIGINT for the process group by the terminal
        else:
            os.kill(proc.pid, signal.SIGTERM)  # SIGTERM is told apart from Ctrl-C (it was "interrupted", 130)
        rest, _ = proc.communicate(timeout=60)  # a hang fails here
        shown += rest
        code = proc.returncode
    finally:
        proc.kill()
        os.close(primary)
        os.close(secondary)
    text = shown.decode()
    message, expected = ("interrupted", 130) if stop == "ctrl-c" else ("terminated", 143)
    assert code == expected, text
    assert text.splitlines()[-1] == f"error: {message}" and "Traceback" not in text, text
    assert modelpack("resolve", "--plain-http", f"{repo}:1.0.0").code == 0  # nothing deleted


# A signal that reaches a thread other than the main one, while the main thread waits at the prompt:
# Python's C-level handler runs in that thread and only sets a flag, so a plain read of the terminal
# would go on waiting (click.confirm did, until Enter).
_OTHER_THREAD = """
import os, signal, sys, threading
from modelpack.cli.ask import confirm

def poke():
    os.read(int(sys.argv[1]), 1)  # the test says when: the prompt is showing
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # delivered to this thread, not the main one

threading.Thread(target=poke, daemon=True).start()
try:
    confirm("Delete?")
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
sys.exit(0)
"""


def test_a_signal_in_another_thread_ends_the_prompt() -> None:
    primary, secondary = pty.openpty()
    go_read, go_write = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", _OTHER_THREAD, str(go_read)], stdin=secondary, bufsize=0,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(go_read,))
    assert proc.stdout is not None
    try:
        shown = _read_until(proc.stdout, b"[y/N]: ")
        time.sleep(0.2)  # the main thread is then waiting for the answer
        os.write(go_write, b"x")
        rest, _ = proc.communicate(timeout=60)  # a hang fails here
        shown += rest
        code = proc.returncode
    finally:
        proc.kill()
        for fd in (primary, secondary, go_read, go_write):
            os.close(fd)
    assert code == 130 and b"interrupted" in shown and b"Traceback" not in shown, shown
