"""The git facts a model folder's metadata records by default: its repository's revision and origin URL."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from modelpack.git_command import git_value

# The longest origin URL recorded: a repository from elsewhere may name one of megabytes (up to git_command's
# MAX_OUTPUT), which became an annotation and a config field of every version packed there; one holding line
# breaks or other control characters is not a URL either.
MAX_URL = 4096


def git_facts(model_dir: Path) -> dict[str, str]:
    """sourceURL and revision of the git repository that holds `model_dir`, if any."""
    def git(*args: str) -> str | None:
        return git_value(model_dir, *args)

    facts: dict[str, str] = {}
    if git("rev-parse", "--is-inside-work-tree") != "true":
        return facts
    if revision := git("rev-parse", "HEAD"):
        facts["revision"] = revision
    if (url := git("remote", "get-url", "origin")) and len(url) <= MAX_URL and url.isprintable():
        facts["sourceURL"] = strip_credentials(url)
    return facts


def strip_credentials(url: str) -> str:
    """Drop `user:token@` from a URL so a token in a remote never lands in an artifact."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urllib.parse.urlunsplit(parts._replace(netloc=host))
    return url
