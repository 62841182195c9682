"""A Hugging Face cache snapshot folder, `.../models--ORG--NAME/snapshots/REVISION`: the model's name, its
organisation and the revision, read from the path alone (no network)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_REPO = re.compile(r"models--([A-Za-z0-9][\w.-]{0,95})--([\w.-]{1,96})")
_REVISION = re.compile(r"[0-9a-f]{40}|[\w.-]{1,128}")


def snapshot_fields(model_dir: Path) -> dict[str, Any]:
    """What the path of a Hugging Face cache snapshot says.

    Args:
        model_dir: the directory `init` describes.

    Returns:
        `name` (NAME), `vendor` (ORG), `revision` (the snapshot folder's name, a commit) and `sourceURL`
        (`https://huggingface.co/ORG/NAME`, only written, never fetched); empty for any other folder.
    """
    path = model_dir.absolute()
    repo = _REPO.fullmatch(path.parent.parent.name)
    if path.parent.name != "snapshots" or repo is None or not _REVISION.fullmatch(path.name):
        return {}
    org, name = repo.groups()
    return {"name": name, "vendor": org, "revision": path.name, "sourceURL": f"https://huggingface.co/{org}/{name}"}
