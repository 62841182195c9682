"""A registry that takes a request and says nothing (hung, stopped with SIGSTOP): on a terminal, `ls` showed
nothing for the stall bound, 30 s, before its first retry line: a hang to whoever waits. After 10 s of
silence one line now names what is awaited, and the command goes on (answered once the registry is)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from fault_proxy import Fault, FaultProxy
from registry_process import Registry


def test_a_silent_registry_is_named_while_the_attempt_waits(registry: Registry, proxy: FaultProxy) -> None:
    repo = f"{proxy.host}/{registry.repo('quiet').split('/', 1)[1]}"
    held = Fault(r"GET .*/tags/list", hold=True)  # taken, not answered until released
    proxy.faults.append(held)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "ls", "--plain-http", repo],
                            stdout=subprocess.PIPE, stderr=secondary, stdin=subprocess.DEVNULL, text=True)
    os.close(secondary)
    screen = b""
    try:
        deadline = time.monotonic() + 60  # (a bound on the test, not a measurement)
        while b"has not answered" not in screen and time.monotonic() < deadline and proc.poll() is None:
            if select.select([primary], [], [], 1)[0]:
                screen += os.read(primary, 4096)
    finally:
        held.release.set()  # the proxy hangs up that attempt; the retry is answered
    assert b"has not answered GET /v2/" in screen and b"/tags/list in 10 s; waiting" in screen, screen
    assert proc.wait(timeout=60) == 3, screen  # no such repository: the registry's own answer
    os.close(primary)
