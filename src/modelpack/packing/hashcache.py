"""Digests of files already hashed, keyed by what `stat` says about them (as git's index does).

A second pack or push of an unchanged model then reads no file to know its digests, so it costs
only HEAD requests. An entry is trusted only while path, size, mtime, ctime, inode and device all
match; a stale entry could still not corrupt anything: the store and registries verify every digest
against the bytes they receive.

The file holds one entry a line, oldest first (`"name"<TAB>size mtime ctime inode device<TAB>digest`,
the name as a JSON string, so it has no tab or newline), and is read a line at a time: only the
entries of the files asked about are kept in memory, and saving streams the others through. Held whole,
as one JSON document, a full cache (50,000 entries: other models packed before) cost 32 MB of memory
(44 MB at its peak) and 0.4 s to load, whatever the size of the model being packed.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from modelpack.files import atomic_write
from modelpack.oci.digest import is_digest

MAX_ENTRIES = 50_000
LEGACY_NAME = "hash-cache.json"  # the whole-document form before: removed when the cache is next saved

Signature = tuple[int, int, int, int, int]  # size, mtime_ns, ctime_ns, inode, device


class HashCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._put: dict[str, str] = {}  # names hashed since the last save, and their lines
        self._lock = threading.Lock()
        # Folders' resolved paths, each resolved once: realpath() of every file of a 2,000-file model
        # cost more than reading them. A folder renamed meanwhile only misses: the key's inode and device
        # must match too.
        self._folders: dict[str, str] = {}

    def _key(self, path: str | Path) -> tuple[str, Signature]:
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
        return name, (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)

    def get_many(self, paths: Iterable[str | Path]) -> dict[str | Path, str]:
        """The digests the cache knows for `paths` (a path it does not know, or whose file changed, is
        left out), reading the file once."""
        keys: dict[str | Path, tuple[str, Signature]] = {}
        for path in paths:
            with contextlib.suppress(FileNotFoundError):  # gone since the walk: reading it says so, naming it
                keys[path] = self._key(path)
        wanted = {json.dumps(name, ensure_ascii=False): name for name, _ in keys.values()}
        found: dict[str, tuple[Signature, str]] = {}
        for name_json, line in self._lines():
            name = wanted.get(name_json)
            if name is not None and (entry := _entry(line)) is not None:
                found[name] = entry  # a later line for the same name is the newer
        return {path: entry[1] for path, (name, signature) in keys.items()
                if (entry := found.get(name)) is not None and entry[0] == signature}

    def put(self, path: str | Path, digest: str) -> None:
        try:
            name, signature = self._key(path)
        except FileNotFoundError:
            return
        line = "\t".join((json.dumps(name, ensure_ascii=False), " ".join(map(str, signature)), digest)) + "\n"
        with self._lock:
            self._put.pop(name, None)  # re-insert: the newest last
            self._put[name] = line

    def save(self) -> None:
        """Write the entries put since the last save after the file's others (the oldest dropped past
        MAX_ENTRIES), streaming the file through."""
        with self._lock:
            if not self._put:
                return
            put, self._put = self._put, {}
        replaced = {json.dumps(name, ensure_ascii=False) for name in put}
        kept = sum(1 for name_json, _ in self._lines() if name_json not in replaced)
        skip = max(0, kept + len(put) - MAX_ENTRIES)

        def lines() -> Iterator[bytes]:
            dropped = 0
            for name_json, line in self._lines():
                if name_json in replaced:
                    continue
                if dropped < skip:
                    dropped += 1
                    continue
                yield line.encode()
            for line in put.values():
                yield line.encode()

        with contextlib.suppress(OSError):  # e.g. a store that is not a folder: said when it is written to
            atomic_write(self.path, lines())
            (self.path.parent / LEGACY_NAME).unlink(missing_ok=True)

    def _lines(self) -> Iterator[tuple[str, str]]:
        """(the name as JSON, the whole line) of each well-formed line of the file: absent, unreadable or
        damaged, a cache only saves time."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    name_json, tab, _ = line.partition("\t")
                    if tab and line.endswith("\n"):
                        yield name_json, line
        except OSError:
            return


def _entry(line: str) -> tuple[Signature, str] | None:
    """A line's signature and digest, or None for a damaged line."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 3 or not is_digest(fields[2]):
        return None
    try:
        numbers = tuple(int(n) for n in fields[1].split(" "))
    except ValueError:
        return None
    if len(numbers) != 5:
        return None
    return numbers, fields[2]
