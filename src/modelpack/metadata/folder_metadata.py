"""What a model folder says of its own metadata, read once for a push: modelpack.yaml (its bytes, which the
unchanged-folder fingerprint keeps, and its fields) and the git facts the metadata records by default.

A push that was not an unchanged folder's asked git its three questions twice (three processes for the
fingerprint, three more on the metadata thread) and read modelpack.yaml three times; and a commit or an
edit between the reads would have kept one file's fingerprint for a manifest built from another. Here each
is read once, and the fingerprint and the manifest see the same.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

from modelpack.metadata.filename import metadata_path
from modelpack.metadata.git_facts import git_facts


class FolderMetadata:
    """modelpack.yaml of a folder, read and parsed on creation, and its git facts, asked on first use."""

    def __init__(self, model_dir: Path) -> None:
        """Read the folder's modelpack.yaml (none: no fields).

        Args:
            model_dir: the model's directory.

        Raises:
            MetadataError: modelpack.yaml is no regular file, a link out of the folder, larger than 1 MiB,
                not UTF-8, not YAML or not a mapping.
        """
        self.model_dir = model_dir
        path = metadata_path(model_dir)
        self.data = b""  # its bytes (none: empty)
        self._fields: dict[str, Any] = {}
        if path is not None:
            # Imported here: many folders have none, and PyYAML takes ~10 ms to import.
            from modelpack.metadata.yaml_file import parse_yaml, read_capped

            self.data = read_capped(path)
            self._fields = parse_yaml(self.data, path)
        self._git: dict[str, str] | None = None
        self._git_lock = threading.Lock()  # the push's thread and the metadata thread may both ask

    def fields(self) -> dict[str, Any]:
        """modelpack.yaml's fields as written (unvalidated): a copy of their own, for the caller to change."""
        return copy.deepcopy(self._fields)

    def git_facts(self) -> dict[str, str]:
        """sourceURL and revision of the git repository that holds the folder (see git_facts), asked once."""
        with self._git_lock:
            if self._git is None:
                self._git = git_facts(self.model_dir)
            return dict(self._git)
