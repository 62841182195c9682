"""The progress bar is drawn on stderr, the terminal it is chosen for (`sys.stderr.isatty()`). It was
drawn by rich's default console, stdout: with stdout redirected on a terminal (`D=$(modelpack pull ...)`,
`modelpack push DIR REF > ref.txt`) no bar was shown and a blank line went ahead of the reference on
stdout, so `"$D"` was no reference. And a warning logged while the bar is drawn (the unfinished downloads
a failed pull keeps) went to the stream the logger was set up with, glued to the end of the bar's line;
it now goes through the `sys.stderr` of the moment, which rich prints above the bar."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from registry_process import Registry


def _on_a_terminal(args: list[str]) -> tuple[str, bytes, int]:
    """Run `args` with stderr a pty (stdout a pipe); returns stdout, what the terminal got, the exit code."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=secondary, stdin=subprocess.DEVNULL,
                            env={**os.environ, "COLUMNS": "200", "MODELPACK_PLAIN_HTTP": "1"})
    os.close(secondary)
    screen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: every writer closed its end
            break
        if not chunk:
            break
        screen += chunk
    os.close(primary)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    return out, screen, proc.wait(timeout=120)


def test_the_bar_is_on_the_terminal_and_stdout_holds_the_reference_alone(registry: Registry,
                                                                          tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(3_000_000))
    ref = registry.repo() + ":1"
    out, screen, code = _on_a_terminal([sys.executable, "-m", "modelpack", "push", str(folder), ref])
    assert code == 0, screen
    assert out.startswith(ref.rsplit(":", 1)[0] + "@sha256:") and out.count("\n") == 1, repr(out)
    assert b"MiB" in screen and b"\x1b[" in screen  # the bar, drawn where the user looks

    out, screen, code = _on_a_terminal([sys.executable, "-m", "modelpack", "pull", ref, "-o", str(tmp_path / "o")])
    assert code == 0, screen
    assert out.startswith(ref.rsplit(":", 1)[0] + "@sha256:") and out.count("\n") == 1, repr(out)


_LOG_DURING_A_BAR = """
import logging, time
from modelpack.cli.common import configure_logging
from modelpack.cli.progress import transfer_progress
configure_logging()
with transfer_progress("pull", True) as options:
    options.on_blob_start(type("D", (), {"size": 1000})())
    options.progress(10)
    time.sleep(0.3)  # drawn at least once
    logging.getLogger("modelpack.store").warning("kept NEWCOMER-40 of unfinished downloads")
    time.sleep(0.3)
"""


def test_a_warning_while_the_bar_is_drawn_gets_a_line_of_its_own() -> None:
    _, screen, code = _on_a_terminal([sys.executable, "-c", _LOG_DURING_A_BAR])
    assert code == 0, screen
    before, found, _ = screen.partition(b"warning: kept NEWCOMER-40")
    assert found, screen
    assert before.endswith((b"\n", b"\r", b"\x1b[2K")), screen  # not after the bar's last character
