"""The model directory `init`, `pack` and `push DIR REF` are given: a path that names nothing is said to be
missing (it was "X is not a directory", as if it were something else), and a file is said to be one, with
the folder to give instead (a newcomer's `push model.skops REF`)."""

from __future__ import annotations

import os
from pathlib import Path

from modelpack.errors import UsageError


def require_model_folder(path: str | os.PathLike[str], missing_hint: str = "") -> Path:
    """The model directory `path`, which must be a folder.

    Args:
        path: the directory as the user gave it (named so in the error).
        missing_hint: appended to the error when nothing is at `path` (e.g. "; to copy ...").

    Returns:
        `path` as a Path.

    Raises:
        UsageError: nothing at `path` (`X: no such directory`), or something other than a folder there.
    """
    folder = Path(path)
    if folder.is_dir():
        return folder
    if not os.path.lexists(folder):
        raise UsageError(f"{path}: no such directory{missing_hint}")
    raise UsageError(f"{path} is not a directory: give the folder that holds the model's files")
