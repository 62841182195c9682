"""Whether a model folder's git work tree has uncommitted changes, asked without running its repository's code.

`git status` compares files with the index and, for a file whose timestamps changed (every file of a
repository unpacked from an archive), runs the repository's own commands to do it: `core.fsmonitor`, the
clean filter or long-running process of each filter driver `.gitattributes` names, and the same in each
submodule. modelpack.git_command switches those off for every git command: what is left is git comparing bytes.
"""

from __future__ import annotations

from pathlib import Path

from modelpack.git_command import run_git


def work_tree_clean(model_dir: Path) -> bool | None:
    """Whether `model_dir`'s files (tracked or not, ignored ones aside) match the commit checked out.

    Args:
        model_dir: a folder inside a git work tree.

    Returns:
        True or False; None when git is missing, fails (a filter driver marked required, say) or takes
        longer than git_command.TIMEOUT: unknown, never reported as clean.
    """
    status = run_git(model_dir, "status", "--porcelain", "--untracked-files=normal", "--ignore-submodules=all",
                     "--no-renames", ".")
    return None if status is None else not status.strip()
