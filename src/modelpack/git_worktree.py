"""Whether a model folder's git work tree has uncommitted changes, asked without running its repository's code.

`git status` compares files with the index and, for a file whose timestamps changed (every file of a
repository unpacked from an archive), runs the repository's own commands to do it: `core.fsmonitor`, the
clean filter or long-running process of each filter driver `.gitattributes` names, and the same in each
submodule. The folder may come from anywhere (a model downloaded with its `.git`), so those are switched
off on the command line, which outranks every configuration file, includes too: packing must not run a
command the folder chose. What is left is git comparing bytes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

TIMEOUT = 10  # seconds: a huge work tree is reported as unknown, not waited for
_DRIVER_KEYS = r"^filter\..+\.(clean|smudge|process|required)$"


def work_tree_clean(model_dir: Path) -> bool | None:
    """Whether `model_dir`'s files (tracked or not, ignored ones aside) match the commit checked out.

    Args:
        model_dir: a folder inside a git work tree.

    Returns:
        True or False; None when git is missing, fails (a filter driver marked required, say) or takes
        longer than TIMEOUT: unknown, never reported as clean.
    """
    neutral = ["-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false"]
    for driver in _filter_drivers(model_dir):
        for key, value in (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false")):
            neutral += ["-c", f"filter.{driver}.{key}={value}"]
    status = _git(model_dir, *neutral, "status", "--porcelain", "--untracked-files=normal",
                  "--ignore-submodules=all", "--no-renames", ".")
    return None if status is None else not status.strip()


def _filter_drivers(model_dir: Path) -> set[str]:
    """The filter drivers any configuration file git reads for `model_dir` defines (reading runs nothing)."""
    names = _git(model_dir, "config", "--null", "--name-only", "--get-regexp", _DRIVER_KEYS) or ""
    return {name[len("filter."):].rsplit(".", 1)[0] for name in names.split("\0") if name.startswith("filter.")}


def _git(model_dir: Path, *args: str) -> str | None:
    """`git -C model_dir --no-optional-locks ARGS`'s output; None when it fails."""
    try:
        done = subprocess.run(["git", "--no-optional-locks", "-C", str(model_dir), *args], capture_output=True,
                              text=True, errors="replace", timeout=TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None
