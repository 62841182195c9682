"""Which symbolic links in a model directory may be followed: only those that stay inside it.

A link to `~/.ssh/id_rsa` or `/etc` placed in a model directory (by a careless script, or by someone who
shares the directory) would otherwise be packed and pushed. Links whose target, fully resolved, lies
inside the model directory are followed; any other link is refused, naming the link and its target.
One exception keeps Hugging Face caches packable: a snapshot folder
(`models--ORG--NAME/snapshots/REV`) is all links into its own `models--ORG--NAME/blobs`, so links from a
snapshot into that one folder are followed too.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelpack.errors import UsageError

_HF_CACHE_PREFIXES = ("models--", "datasets--", "spaces--")


class LinkPolicy:
    """The folders (resolved) that links below a model directory may point into."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)
        self.allowed = [self.root]
        parent = os.path.dirname(self.root)
        repo = os.path.dirname(parent)
        if os.path.basename(parent) == "snapshots" and os.path.basename(repo).startswith(_HF_CACHE_PREFIXES):
            blobs = os.path.join(repo, "blobs")
            if os.path.isdir(blobs) and not os.path.islink(blobs):
                self.allowed.append(blobs)

    def resolve(self, path: str | os.PathLike[str], relpath: str) -> str:
        """The real path of `path` (named `relpath` in messages), refused unless it lies inside an
        allowed folder.

        Raises:
            UsageError: the path leads, through a link, outside the model directory; or a link loops.
        """
        try:
            real = os.path.realpath(path, strict=True)
        except FileNotFoundError:
            raise UsageError(f"{relpath}: broken symlink (its target {os.readlink(path)!r} does not exist): "
                             "remove it, or leave it out with files.exclude in modelpack.yaml"
                             if os.path.islink(path) else f"{relpath}: does not exist") from None
        except OSError as exc:  # ELOOP: a link to itself, or a cycle of links
            raise UsageError(f"{relpath}: symbolic link loop ({exc.strerror})") from None
        if not any(real == top or real.startswith(top + os.sep) for top in self.allowed):
            raise UsageError(f"{relpath} is a link to {real}, outside the model directory {self.root}; "
                             "links are followed only inside it: copy the file in instead, or leave it out "
                             "with files.exclude in modelpack.yaml")
        return real
