"""Talking to one docker credential helper: `docker-credential-NAME get|store|erase`, the data on stdin,
JSON out (docker/docker-credential-helpers' protocol, which docker, containers/image, oras and crane speak).

A helper is a program another party wrote and may be broken: it is given a bounded time
(`$MODELPACK_CREDENTIAL_HELPER_TIMEOUT`, default 60 s, as long as a keyring's unlock prompt may need) and
its output is read up to 64 KiB (an answer is a few hundred bytes); past either it is killed with what it
started (modelpack.bounded_run). What it printed is never quoted on success (it holds the secret); on
failure, its first line.
"""

from __future__ import annotations

import json
import re
import shutil

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
    # Imported here: every registry command imports this module, few run a helper (subprocess and selectors).
    from modelpack.bounded_run import Overran, run_bounded

    name = program(helper)
    path = shutil.which(name)
    if path is None:
        raise HelperFailed(f"credential helper {name} is not on PATH: install it, or stop naming {helper!r}")
    timeout = env_int(TIMEOUT_ENV, DEFAULT_TIMEOUT, 1, 3600)
    try:
        done = run_bounded([path, action], timeout=timeout, max_output=MAX_OUTPUT, data=data.encode())
    except OSError as exc:
        raise HelperFailed(f"credential helper {name} cannot be run: {exc.strerror or exc}") from None
    except Overran as exc:
        if exc.bound == "output":
            raise HelperFailed(f"credential helper {name} {action} printed over {MAX_OUTPUT // 1024} KiB "
                               "(killed); fix or replace it") from None
        raise HelperFailed(f"credential helper {name} {action} gave no answer in {timeout} s (killed); "
                           f"fix it, or set {TIMEOUT_ENV}") from None
    out, err = (text.decode("utf-8", "replace") for text in (done.stdout, done.stderr))
    if done.returncode != 0:
        said = (out.strip() or err.strip()).splitlines()[:1]
        raise HelperFailed(f"credential helper {name} {action} failed" + (f": {said[0][:200]}" if said else ""))
    return out
