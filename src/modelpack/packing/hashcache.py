"""Digests of files already hashed, keyed by what `stat` says about them (as git's index does).

A second pack or push of an unchanged model then reads no file to know its digests, so it costs
only HEAD requests. An entry is trusted only while path, size, mtime, ctime, inode and device all
match; a stale entry could still not corrupt anything: the store and registries verify every digest
against the bytes they receive.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from pathlib import Path

from modelpack.files import atomic_write

MAX_ENTRIES = 50_000


class HashCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, list] | None = None
        self._dirty = False
        self._lock = threading.Lock()
        # Folders' resolved paths, each resolved once: realpath() of every file of a 2,000-file model
        # cost more than reading them. A folder renamed meanwhile only misses: the key's inode and device
        # must match too.
        self._folders: dict[str, str] = {}

    def _key(self, path: str | Path) -> tuple[str, list[int]]:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            st = os.stat(path)
            name = os.path.realpath(path)
        else:
            folder, base = os.path.split(os.path.abspath(path))
            real = self._folders.get(folder)
            if real is None:
                real = self._folders[folder] = os.path.realpath(folder)
            name = os.path.join(real, base)
        return name, [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]

    def _load(self) -> dict[str, list]:
        if self._entries is None:
            try:
                data = json.loads(self.path.read_bytes())
                self._entries = data if isinstance(data, dict) else {}
            except (OSError, ValueError):  # absent, unreadable or damaged: a cache only saves time
                self._entries = {}
        return self._entries

    def get(self, path: str | Path) -> str | None:
        try:
            name, signature = self._key(path)
        except FileNotFoundError:
            return None  # gone since the walk: reading it says so, naming it
        with self._lock:
            entry = self._load().get(name)
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == signature:
            return str(entry[1])
        return None

    def put(self, path: str | Path, digest: str) -> None:
        try:
            name, signature = self._key(path)
        except FileNotFoundError:
            return
        with self._lock:
            entries = self._load()
            entries.pop(name, None)  # re-insert: dict order doubles as least-recently-written order
            entries[name] = [signature, digest]
            while len(entries) > MAX_ENTRIES:
                entries.pop(next(iter(entries)))
            self._dirty = True

    def save(self) -> None:
        with self._lock:
            if not self._dirty or self._entries is None:
                return
            with contextlib.suppress(OSError):  # e.g. a store that is not a folder: said when it is written to
                atomic_write(self.path, json.dumps(self._entries, separators=(",", ":")).encode())
            self._dirty = False
