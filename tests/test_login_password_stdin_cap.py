"""`login --password-stdin` reads at most 64 KiB (and the line's end): a longer "password" (a file piped in by
mistake) is refused in one line before any request, exit 2, and an endless stream (`yes |`) is not read into
memory whole: it read all of standard input, so `yes |` grew until memory ran out ("internal error"). A closed
standard input, or one that is not text in its encoding, is one line too (both were "internal error")."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from helpers import htpasswd_file, modelpack
from registry_process import Registry

LIMIT = 64 * 1024
OVER = "error: the password on standard input is over 64 KiB: pipe in the password (or token) alone\n"


def _login(host: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelpack", "login", "--plain-http", host, "-u", "alice",
                           "--password-stdin"], capture_output=True, text=True, timeout=120, **kwargs)  # type: ignore[call-overload]


def _no_credentials() -> bool:
    return not (Path(os.environ["DOCKER_CONFIG"]) / "config.json").exists()


def test_a_password_over_64_kib_is_refused_before_any_request(registry: Registry) -> None:
    run = modelpack("login", "--plain-http", registry.host, "-u", "alice", "--password-stdin",
                    stdin="a" * (LIMIT + 1) + "\n")
    assert (run.code, run.err) == (2, OVER)
    assert _no_credentials()  # (the registry takes any login: asked, it would have saved it)


def test_an_endless_stdin_is_refused_within_a_bounded_memory(registry: Registry) -> None:
    def small_memory() -> None:  # the whole stream read would end in a MemoryError here, not in a refusal
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))

    with subprocess.Popen(["yes"], stdout=subprocess.PIPE) as endless:
        run = _login(registry.host, stdin=endless.stdout, preexec_fn=small_memory)
        endless.kill()
    assert (run.returncode, run.stderr) == (2, OVER)
    assert _no_credentials()


def test_a_password_of_64_kib_is_sent(fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    reg = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", "alice", "right"))
    run = modelpack("login", "--plain-http", reg.host, "-u", "alice", "--password-stdin", stdin="a" * LIMIT + "\r\n")
    assert run.code == 4 and "refused the credentials for user 'alice'" in run.err, run.err


def test_a_closed_or_undecodable_stdin_is_one_line(registry: Registry) -> None:
    closed = _login(registry.host, stdin=None, preexec_fn=lambda: os.close(0))
    assert (closed.returncode, closed.stderr) == (
        2, "error: no password on standard input (pipe it in: echo ... | modelpack login --password-stdin)\n")
    binary = subprocess.run([sys.executable, "-m", "modelpack", "login", "--plain-http", registry.host, "-u", "alice",
                             "--password-stdin"], input=b"\xff\xfe", capture_output=True, timeout=120,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"})
    assert (binary.returncode, binary.stderr) == (2, b"error: the password on standard input is not utf-8 text\n")
    assert _no_credentials()

