"""Talking to one docker credential helper: `docker-credential-NAME get|store|erase`, the data on stdin,
JSON out (docker/docker-credential-helpers' protocol, which docker, containers/image, oras and crane speak).

A helper is a program another party wrote and may be broken: it is given a bounded time
(`$MODELPACK_CREDENTIAL_HELPER_TIMEOUT`, default 60 s, as long as a keyring's unlock prompt may need) and
its output is read up to 64 KiB (an answer is a few hundred bytes). A helper that overruns either is
killed with everything it started (its own process group), so a child holding the pipe open cannot keep
us waiting. What it printed is never quoted on success (it holds the secret); on failure, its first line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import time

from modelpack.environment import env_int
from modelpack.errors import UsageError
from modelpack.store.credential_types import Credentials

TIMEOUT_ENV = "MODELPACK_CREDENTIAL_HELPER_TIMEOUT"
DEFAULT_TIMEOUT = 60  # seconds
MAX_OUTPUT = 64 * 1024
# docker-credential-helpers' words for "nothing stored for this server" (a failure exit, not an error).
NOT_FOUND = "credentials not found in native keychain"
# A helper name becomes part of a program name looked up on PATH: no path, no option, no space.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class HelperFailed(UsageError):
    """A credential helper is missing, hung, failed, or answered something unusable (one line)."""


def program(helper: str) -> str:
    return f"docker-credential-{helper}"


def missing(helper: str) -> bool:
    """Whether `docker-credential-HELPER` is not on PATH."""
    return shutil.which(program(helper)) is None


def check_name(helper: str, source: str) -> None:
    """Refuse a helper name that is not a plain program-name suffix (`pass`, `ecr-login`).

    Raises:
        UsageError: naming `source`, the file that gave it.
    """
    if not NAME.fullmatch(helper):
        raise UsageError(f"{source}: credential helper {helper!r} is not a helper name (docker-credential-NAME "
                         "on PATH: letters, digits, '.', '_', '-'); fix it")


def get(helper: str, server: str) -> Credentials | None:
    """`docker-credential-HELPER get` for `server`: its credentials, or None when it has none stored.

    Raises:
        HelperFailed: not on PATH, no answer in time, a failure exit other than "not found", or an
            answer that is not JSON with string Username and Secret.
    """
    try:
        answer = run(helper, "get", server)
    except HelperFailed as exc:
        if NOT_FOUND in str(exc):
            return None
        raise
    try:
        data = json.loads(answer)
        user, secret = data["Username"], data["Secret"]
    except (ValueError, KeyError, TypeError):
        data, user, secret = None, None, None
    if not isinstance(user, str) or not isinstance(secret, str):
        raise HelperFailed(f"credential helper {program(helper)} get answered something other than JSON with "
                           "Username and Secret; fix or replace it")
    if not secret:
        return None  # what some helpers answer for "nothing stored"
    return Credentials(user, secret, saved_in=program(helper))


def run(helper: str, action: str, data: str) -> str:
    """Run `docker-credential-HELPER ACTION` with `data` on stdin, within the time and output bounds.

    Returns:
        What it printed on stdout (exit 0).

    Raises:
        HelperFailed: not on PATH, no answer in time, too much output, or a failure exit (its first line).
    """
    name = program(helper)
    path = shutil.which(name)
    if path is None:
        raise HelperFailed(f"credential helper {name} is not on PATH: install it, or stop naming {helper!r}")
    timeout = env_int(TIMEOUT_ENV, DEFAULT_TIMEOUT, 1, 3600)
    try:
        proc = subprocess.Popen([path, action], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise HelperFailed(f"credential helper {name} cannot be run: {exc.strerror or exc}") from None
    try:
        out, err = _exchange(proc, data.encode(), time.monotonic() + timeout, name, action, timeout)
    finally:
        if proc.poll() is None:
            _kill(proc)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):  # stdin's flush, when the helper never read it
                    stream.close()
    if proc.returncode != 0:
        said = (out.strip() or err.strip()).splitlines()[:1]
        raise HelperFailed(f"credential helper {name} {action} failed" + (f": {said[0][:200]}" if said else ""))
    return out


def _exchange(proc: subprocess.Popen[bytes], data: bytes, deadline: float, name: str, action: str,
              timeout: int) -> tuple[str, str]:
    """Write `data`, read both outputs to their end (or raise), and wait for the exit."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(data)  # a few hundred bytes: within the pipe's buffer, so this never blocks
        proc.stdin.close()
    except BrokenPipeError:
        pass  # it exited without reading: its exit status says why
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    total = 0
    with selectors.DefaultSelector() as selector:
        for stream in (proc.stdout, proc.stderr):
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise HelperFailed(f"credential helper {name} {action} gave no answer in {timeout} s (killed); "
                                   f"fix it, or set {TIMEOUT_ENV}")
            for key, _ in selector.select(left):
                piece = os.read(key.fd, 65536)
                if not piece:
                    selector.unregister(key.fileobj)
                    continue
                total += len(piece)
                if total > MAX_OUTPUT:
                    raise HelperFailed(f"credential helper {name} {action} printed over {MAX_OUTPUT // 1024} KiB "
                                       "(killed); fix or replace it")
                chunks[key.fd].append(piece)
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise HelperFailed(f"credential helper {name} {action} did not exit in {timeout} s (killed)") from None
    out, err = (b"".join(chunks[s.fileno()]).decode("utf-8", "replace") for s in (proc.stdout, proc.stderr))
    return out, err


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its children too: one holding our pipe would outlive it
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
