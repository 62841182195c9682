"""Commands that need a secret, run with no terminal and no secret: one line naming the fix, exit 2,
never "internal error" or a Python warning."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from modelpack.store.options import ClientOptions
from registry_process import Registry


def run_detached(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI with stdin not a terminal (/dev/null, or a pipe holding `stdin`) and no COSIGN_PASSWORD."""
    env = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
    command = [sys.executable, "-m", "modelpack", *args]
    if stdin is None:
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, input=stdin)


def assert_one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    err = result.stderr
    assert result.returncode == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ")
    assert "internal error" not in err and "Warning" not in err
    for fragment in fragments:
        assert fragment in err, err


def test_generate_key_pair_without_password_or_terminal(tmp_path: Path) -> None:
    result = run_detached("generate-key-pair", "-d", str(tmp_path / "k"))
    assert_one_line(result, "COSIGN_PASSWORD", "terminal")
    assert not (tmp_path / "k" / "cosign.key").exists()


def test_sign_without_password_or_terminal(tmp_path: Path) -> None:
    key = tmp_path / "cosign.key"
    kind = "ENCRYPTED SIGSTORE PRIVATE KEY"
    key.write_text(f"-----BEGIN {kind}-----\nAA==\n-----END {kind}-----\n")
    result = run_detached("sign", "--plain-http", "--key", str(key), "localhost:1/a/b:1")
    assert_one_line(result, "COSIGN_PASSWORD", "terminal")


@pytest.mark.parametrize("stdin", [None, ""], ids=["no-terminal", "empty-stdin"])
def test_login_without_password(stdin: str | None) -> None:
    args = ["login", "-u", "alice", "localhost:1"]
    result = run_detached(*args, *(["--password-stdin"] if stdin is not None else []), stdin=stdin)
    assert_one_line(result, "--password-stdin")


def test_malformed_annotation_is_a_usage_error(tmp_path: Path) -> None:
    # click's own errors raised inside a command are usage mistakes too, not "internal error".
    key = tmp_path / "cosign.pub"
    key.write_text("")
    result = run_detached("verify", "--plain-http", "--key", str(key), "-a", "no-equals-sign", "localhost:1/a/b:1")
    assert_one_line(result, "expected key=value")


def _closed_stdin() -> None:
    os.close(0)  # `modelpack ... <&-`: Python starts with sys.stdin None


def _write_only_stdin() -> None:
    fd = os.open(os.devnull, os.O_WRONLY)  # `modelpack ... 0>FILE`: every read of fd 0 fails with EBADF
    os.dup2(fd, 0)
    os.close(fd)


def run_with_stdin(how: Callable[[], None], *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI with fd 0 closed or write-only, and COSIGN_PASSWORD set only for `attest`."""
    env = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
    if args[0] == "attest":
        env["COSIGN_PASSWORD"] = "pw"
    return subprocess.run([sys.executable, "-m", "modelpack", *args], capture_output=True, text=True, timeout=60,
                          env=env, stdin=None, preexec_fn=how)


@pytest.mark.parametrize("how", [_closed_stdin, _write_only_stdin], ids=["closed", "write-only"])
def test_an_unreadable_stdin_is_one_line(how: Callable[[], None], tmp_path: Path) -> None:
    # Each was "internal error (AttributeError: 'NoneType' object has no attribute ...)" with fd 0 closed,
    # and a bare "error: Bad file descriptor" (exit 1) for the password read from a write-only fd 0.
    assert_one_line(run_with_stdin(how, "generate-key-pair", "-d", str(tmp_path / "k")), "COSIGN_PASSWORD")
    assert_one_line(run_with_stdin(how, "login", "-u", "alice", "localhost:1"), "--password-stdin")
    password = run_with_stdin(how, "login", "-u", "alice", "--password-stdin", "localhost:1")
    assert_one_line(password, "password", "standard input")
    environment = {**os.environ, "COSIGN_PASSWORD": "pw"}
    made = subprocess.run([sys.executable, "-m", "modelpack", "generate-key-pair", "-d", str(tmp_path / "k")],
                          capture_output=True, text=True, timeout=60, env=environment, stdin=subprocess.DEVNULL)
    assert made.returncode == 0, made.stderr
    key = str(tmp_path / "k" / "cosign.key")
    assert_one_line(run_with_stdin(how, "sign", "--plain-http", "--key", key, "localhost:1/a/b:1"), "COSIGN_PASSWORD")
    if how is _write_only_stdin:  # (closed: an empty predicate, read on to the registry)
        attest = run_with_stdin(how, "attest", "--plain-http", "--key", key, "--predicate", "-", "localhost:1/a/b:1")
        assert_one_line(attest, "cannot read the predicate from standard input")


def test_rm_all_tags_with_a_closed_stdin_asks_for_yes(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(500))
    repo = registry.repo()
    mp.push(model, f"{repo}:1.0", options=ClientOptions(plain_http=True))
    mp.tag_remote(f"{repo}:1.0", f"{repo}:champion", options=ClientOptions(plain_http=True))
    refused = run_with_stdin(_closed_stdin, "rm", "--remote", "--plain-http", "--all-tags", f"{repo}:champion")
    assert_one_line(refused, "--yes", "no terminal to ask")
    assert mp.resolve(f"{repo}:1.0", options=ClientOptions(plain_http=True)).digest.startswith("sha256:")
