"""Every git command modelpack runs (in a model folder, which may come from anywhere: a model downloaded with
its `.git`), run so that the folder's repository chooses no command and cannot keep us waiting.

- `core.fsmonitor` and the clean/smudge/process command of each filter driver any configuration file names
  are switched off on the command line, which outranks every configuration file, includes too: `git status`
  would otherwise run them for a file whose timestamps changed (every file unpacked from an archive).
- No prompt (GIT_TERMINAL_PROMPT=0, no askpass program), no pager, no optional locks, stdin /dev/null.
- The repository is the folder's own: GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE and the like (set for a git
  hook, `modelpack pack` run from one) would make git describe another repository.
- Bounded time (TIMEOUT) and output (MAX_OUTPUT); past either git is killed and the answer is unknown.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelpack.bounded_run import Overran, run_bounded

TIMEOUT = 10  # seconds: a huge work tree is reported as unknown, not waited for
MAX_OUTPUT = 4 << 20  # bytes: `status --porcelain` of tens of thousands of changed files
# Bytes git may allocate: `status` of a work tree of hundreds of thousands of files takes a few hundred MB; a
# repository's attributes file that is /dev/zero (`core.attributesFile`, a link at .git/info/attributes) is
# read as one endless line, 2 GB in under 3 s, until TIMEOUT.
MAX_MEMORY = 1 << 30
_DRIVER_KEYS = r"^filter\..*\.(clean|smudge|process|required)$"  # ([filter ""] is a driver too: `filter=` names it)
# Variables that point git at a repository, index or object store other than the folder's own
# (`git rev-parse --local-env-vars`, less the configuration ones a user may mean for every git they run).
_ELSEWHERE = ("GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
              "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_GRAFT_FILE",
              "GIT_SHALLOW_FILE", "GIT_NAMESPACE", "GIT_INTERNAL_SUPER_PREFIX")
_QUIET = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "GCM_INTERACTIVE": "never",
          "GIT_PAGER": "cat", "GIT_OPTIONAL_LOCKS": "0"}


def run_git(folder: Path, *args: str) -> str | None:
    """`git ARGS` in `folder`, hardened (above).

    Args:
        folder: where git runs (`git -C folder`).
        args: the git command and its arguments.

    Returns:
        What it printed on stdout (undecodable bytes replaced), when it exits 0; None when git is missing,
        fails, or passes TIMEOUT, MAX_OUTPUT or MAX_MEMORY, or a filter driver's name cannot be switched
        off on the command line: unknown.
    """
    neutral = ["-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false"]
    drivers = _filter_drivers(folder)
    if any("=" in driver for driver in drivers):
        return None  # `-c filter.a=b.clean=` sets `filter.a`: its command would run (git splits at the first =)
    for driver in drivers:
        for key, value in (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false")):
            neutral += ["-c", f"filter.{driver}.{key}={value}"]
    return _git(folder, *neutral, *args)


def git_value(folder: Path, *args: str) -> str | None:
    """The output, stripped, of a git command that reads no file of the work tree (`rev-parse HEAD`,
    `remote get-url origin`): no filter driver or fsmonitor runs for those, so they are not looked up
    (a `git config` run more per command: every push asks three); the rest of the hardening holds.

    Returns:
        The value; None when unknown or empty.
    """
    return (_git(folder, "-c", "core.fsmonitor=false", *args) or "").strip() or None


def _filter_drivers(folder: Path) -> set[str]:
    """The filter drivers any configuration file git reads for `folder` defines (reading runs nothing)."""
    names = _git(folder, "config", "--null", "--name-only", "--get-regexp", _DRIVER_KEYS) or ""
    return {name[len("filter."):].rsplit(".", 1)[0] for name in names.split("\0") if name.startswith("filter.")}


def _git(folder: Path, *args: str) -> str | None:
    env = {key: value for key, value in os.environ.items() if key not in _ELSEWHERE} | _QUIET
    try:
        done = run_bounded(["git", "--no-pager", "--no-optional-locks", "-C", str(folder), *args], timeout=TIMEOUT,
                           max_output=MAX_OUTPUT, env=env, max_memory=MAX_MEMORY)
    except (OSError, Overran):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None
