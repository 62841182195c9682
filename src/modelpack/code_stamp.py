"""What modelpack's own code is, as a stamp that changes when any of its files does.

`__version__` stays the same across many builds (an editable install, a wheel built from another commit of
the same version), yet what a folder packs to may change between them (an annotation added, a file's kind
judged otherwise). A record kept under the version alone (see api.unchanged_folder) would then name what an
older modelpack packed. The stamp is what `stat` says of each file of the package (path, size, mtime, ctime,
inode, device), as the files of a model are vouched for: ~300 files, under a millisecond.

It is taken once per process, when first asked for (a push asked once per folder-archive layer and twice
more): the code a process runs is what it imported, and an upgrade under a running command does not change
that. A record such a command keeps is filed under the stamp of the files as they were, which no process
started after the upgrade computes again: it is never consulted.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys

# Libraries whose reading decides the metadata (YAML's scalars, pydantic's coercions): each one's entry file.
_LIBRARIES = ("yaml", "pydantic", "pydantic_core")


@functools.cache
def code_stamp() -> str:
    """A digest of the stat of every file of the installed modelpack package (compiled caches aside), of the
    libraries that read and validate its metadata, and of the Python running it: another install, an upgrade
    or an edit of any of its files changes it (for the processes started after it: see the module's words)."""
    import importlib.util

    import modelpack

    root = os.path.dirname(os.path.abspath(modelpack.__file__))
    parts = [sys.version]
    for library in _LIBRARIES:
        spec = importlib.util.find_spec(library)  # (locates it without importing it)
        origin = spec.origin if spec is not None else None
        parts.append(_stat_of(origin) if origin else f"{library}\0absent")
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        parts += (_stat_of(os.path.join(folder, name)) for name in sorted(names))
    return hashlib.sha256("\0\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _stat_of(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}\0gone"
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0{st.st_dev}"
