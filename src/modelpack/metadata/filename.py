"""Where a model directory keeps its metadata, kept apart from the schema so that commands which only
name the file (pull restoring it, init writing it, a push seeing there is none) do not import pydantic."""

from __future__ import annotations

import os
from pathlib import Path

from modelpack.errors import MetadataError, UsageError
from modelpack.packing.links import LinkPolicy

METADATA_FILE = "modelpack.yaml"
MAX_METADATA_BYTES = 1024 * 1024


def metadata_path(model_dir: Path) -> Path | None:
    """The model directory's modelpack.yaml, if it has one, read through a link only if the link stays
    inside the directory (as every packed file).

    Raises:
        MetadataError: it is a folder or other non-file, or a link that leaves the directory.
    """
    path = model_dir / METADATA_FILE
    if not os.path.lexists(path):
        return None
    try:
        real = Path(LinkPolicy(model_dir).resolve(path, METADATA_FILE))
    except UsageError as exc:
        raise MetadataError(str(exc)) from None
    if not real.is_file():
        raise MetadataError(f"{path} is not a regular file: the metadata must be a YAML file (rename it)")
    return real
