"""DNS rebinding against `modelpack ui`: a page of another site that makes its own name resolve to this
machine reads the UI's pages as its own origin (everything the user's registry credentials can read). Its
requests carry that site's name as Host, so the UI answers only the Host names a user reaches it by: IP
addresses, localhost, this machine's name and names given with --allow-host. Listening on every address
(`--host 0.0.0.0`, reachable from a whole LAN's browsers) turned the check off; it no longer does."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import threading

from registry_process import Registry


def _status(port: int, host_header: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("GET", "/", skip_host=True)
        conn.putheader("Host", host_header)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def test_the_ui_on_every_address_answers_its_own_names_not_a_rebinding_page(registry: Registry) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "ui", "--plain-http", "--host", "0.0.0.0",
                             "--port", "0", "--allow-host", "models.example.com", "--allow-host", "*.corp.example",
                             registry.host],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    watchdog = threading.Timer(120, proc.kill)  # a UI that never says where it listens fails, not hangs
    watchdog.start()
    try:
        line = proc.stderr.readline()
        found = re.search(r"browse http://\S+:(\d+)/", line)
        assert found, line
        port = int(found.group(1))
        refused = {host: _status(port, host) for host in ("attacker.example", f"attacker.example:{port}",
                                                          "localhost.attacker.example", "corp.example")}
        assert refused == dict.fromkeys(refused, 400), refused
        answered = {host: _status(port, host) for host in (
            f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "192.0.2.7", f"{socket.gethostname()}:{port}",
            "models.example.com", "Models.Example.com.", "ui.corp.example")}
        assert answered == dict.fromkeys(answered, 200), answered
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        watchdog.cancel()
