"""Commands that need a secret, run with no terminal and no secret: one line naming the fix, exit 2,
never "internal error" or a Python warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


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
