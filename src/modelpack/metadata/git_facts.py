"""The git facts a model folder's metadata records by default: its repository's revision and origin URL."""

from __future__ import annotations

import subprocess
import urllib.parse
from pathlib import Path


def run_git(model_dir: Path, *args: str) -> str | None:
    """`git -C model_dir ARGS`'s output, stripped; None when git is missing, fails or prints nothing."""
    try:
        out = subprocess.run(
            ["git", "-C", str(model_dir), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def git_facts(model_dir: Path) -> dict[str, str]:
    """sourceURL and revision of the git repository that holds `model_dir`, if any."""
    def git(*args: str) -> str | None:
        return run_git(model_dir, *args)

    facts: dict[str, str] = {}
    if git("rev-parse", "--is-inside-work-tree") != "true":
        return facts
    if revision := git("rev-parse", "HEAD"):
        facts["revision"] = revision
    if url := git("remote", "get-url", "origin"):
        facts["sourceURL"] = strip_credentials(url)
    return facts


def strip_credentials(url: str) -> str:
    """Drop `user:token@` from a URL so a token in a remote never lands in an artifact."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urllib.parse.urlunsplit(parts._replace(netloc=host))
    return url
