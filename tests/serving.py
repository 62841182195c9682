"""A client call for the inference server tests: status and JSON body, errors included; a `serve` process
read up to its "serving on" line."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def call(url: str, body: dict[str, Any] | bytes | None = None) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def established(port: int) -> int:
    """Connections to `port` in state ESTABLISHED, as the kernel lists them (server side)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            count += int(local.rsplit(":", 1)[1], 16) == port and state == "01"
    return count


@contextlib.contextmanager
def serving_lines(*args: str) -> Iterator[list[str]]:
    """`modelpack serve ARGS` running: its stderr lines up to "serving on" (the last); stopped with SIGTERM on
    leaving, when it must exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", *args],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    lines: list[str] = []
    watchdog = threading.Timer(120, proc.kill)  # a server that never says it serves fails, not hangs
    watchdog.start()
    try:
        while not lines or not lines[-1].startswith("serving on"):
            line = proc.stderr.readline()
            assert line, "serve exited before serving: " + "".join(lines)
            lines.append(line.rstrip("\n"))
        yield lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        watchdog.cancel()
    assert proc.returncode == 0
