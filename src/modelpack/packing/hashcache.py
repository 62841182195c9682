"""Digests of files already hashed, keyed by what `stat` says about them (as git's index does), and of
folders packed as one tar layer, keyed by what it says about each of their members (see archive_key).

A second pack or push of an unchanged model then reads no file to know its digests, so it costs
only HEAD requests. An entry is trusted only while path, size, mtime, ctime, inode and device all
match (ctime too: `touch -r` or `os.utime` can put a file's mtime back after an edit, but nothing but
the clock sets ctime), as they were before the file was read; and only for a file not changed in the
last moments (see RACY_NS: a rewrite within one timestamp tick would keep its stat). A stale entry could
still not corrupt anything: the store and registries verify every digest against the bytes they receive.

The file holds one entry a line, oldest first: `NAME<TAB>SIGNATURE<TAB>VALUE`, each a compact JSON value
(JSON escapes tabs and line breaks inside strings, so none has either). It is read a line at a time: only
the entries asked about are kept in memory, and saving streams the others through. Held whole, as one
JSON document, a full cache (50,000 entries: other models packed before) cost 32 MB of memory (44 MB at
its peak) and 0.4 s to load, whatever the size of the model being packed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from modelpack.errors import ModelpackError
from modelpack.files import atomic_write
from modelpack.oci.digest import is_digest
from modelpack.store.layout_files import open_regular

MAX_ENTRIES = 50_000
# A file changed this recently may change again within the same timestamp tick, keeping its stat (git's
# "racily clean" entries): its digest is not kept, so the next pack hashes it once more. Filesystems with
# nanosecond stamps take them from a clock that ticks every 1-10 ms; whole-second stamps (ext3, FAT's 2 s,
# some network filesystems) need seconds.
RACY_NS = 20_000_000
RACY_WHOLE_SECONDS_NS = 2_000_000_000
LEGACY_NAME = "hash-cache.json"  # the whole-document form before: removed when the cache is next saved
# The longest line read: a folder's entry lists its members (~100 bytes each), so 64 MiB is ~600,000 of them.
# A longer line ends the reading (the rest counts as damaged), as does a file that is no regular file: the
# store's files can be anything a user or another program put there (a FIFO hung pack; a link to /dev/zero,
# one endless line, ended it in MemoryError).
MAX_LINE_CHARS = 64 << 20


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class HashCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._put: dict[str, str] = {}  # names stored since the last save, and their lines
        self._lock = threading.Lock()
        # Folders' resolved paths, each resolved once: realpath() of every file of a 2,000-file model
        # cost more than reading them. A folder renamed meanwhile only misses: the key's inode and device
        # must match too.
        self._folders: dict[str, str] = {}
        self._held = 0  # blocks of `saves_held` open: a save waits for the last of them to end

    def key(self, path: str | Path) -> tuple[str, list[int]] | None:
        """What the file at `path` is now, as a name and signature to `store` its digest under: taken before
        its bytes are read, so an edit made while (or after) they are read leaves an entry its file no
        longer matches, not the old digest under the new file's stat. None when the file is gone."""
        try:
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
        except FileNotFoundError:
            return None
        return name, [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]

    def settled(self, signature: list[int], now_ns: int | None = None) -> bool:
        """Whether a file's signature (from `key`) can vouch for its digest: not changed so recently that
        an edit within the same timestamp tick would leave it as it is."""
        return settled(signature[2], now_ns)

    def get_many(self, paths: Iterable[str | Path],
                 keys: dict[str | Path, tuple[str, list[int]]] | None = None) -> dict[str | Path, str]:
        """The digests the cache knows for the files at `paths` (one it does not know, or whose file
        changed, is left out), reading the cache file once.

        Args:
            paths: the files.
            keys: if given, filled with each file's `key` (a gone file has none, nor a file changed too
                recently to be vouched for, see `settled`): taken before any is read, so a file hashed
                next stores its digest under it without a second `stat`.

        Returns:
            The known digests by path.
        """
        every = {path: key for path in paths if (key := self.key(path)) is not None}
        now = time.time_ns()
        if keys is not None:
            keys.update((path, key) for path, key in every.items() if self.settled(key[1], now))
        found = self.lookup_many(dict(every.values()))
        return {path: value for path, (name, _) in every.items()
                if isinstance(value := found.get(name), str) and is_digest(value)}

    def lookup_many(self, wanted: Mapping[str, Any]) -> dict[str, Any]:
        """What `store` kept for each name of `wanted` while it had the very signature `wanted` gives it
        (JSON values); names with no such entry are left out. Reads the cache file once."""
        by_json = {_json(name): name for name in wanted}
        found: dict[str, Any] = {}
        for name_json, line in self._lines():
            name = by_json.get(name_json)
            if name is None:
                continue
            entry = _entry(line)
            if entry is not None and entry[0] == wanted[name]:
                found[name] = entry[1]  # a later line for the same name is the newer
            else:
                found.pop(name, None)
        return found

    def store(self, name: str, signature: Any, value: Any) -> None:
        """Keep `value` (a JSON value) for `name` as long as its signature stays `signature` (saved by `save`)."""
        line = "\t".join((_json(name), _json(signature), _json(value))) + "\n"
        with self._lock:
            self._put.pop(name, None)  # re-insert: the newest last
            self._put[name] = line

    def save(self) -> None:
        """Write the entries stored since the last save after the file's others (the oldest dropped past
        MAX_ENTRIES), streaming the file through."""
        with self._lock:
            if self._held or not self._put:
                return
            put, self._put = self._put, {}
        replaced = {_json(name) for name in put}
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

    @contextlib.contextmanager
    def saves_held(self) -> Iterator[None]:
        """Hold every `save` until the block ends, then save once, whether or not it raised: a push saves
        its files' digests once described and the folder's record once sent, and each save streams the
        whole file through (a full cache: ~45 ms, and an fsync)."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
            self.save()

    def _lines(self) -> Iterator[tuple[str, str]]:
        """(the name as JSON, the whole line) of each complete line of the file: absent, unreadable or
        damaged, a cache only saves time."""
        try:
            raw = open_regular(self.path, "the hash cache")
        except (OSError, ModelpackError):
            return
        try:
            with io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n") as f:
                while line := f.readline(MAX_LINE_CHARS):
                    if not line.endswith("\n"):
                        return  # over the cap, or the last line cut short
                    name_json, tab, _ = line.partition("\t")
                    if tab:
                        yield name_json, line
        except OSError:
            return


def settled(ctime_ns: int, now_ns: int | None = None) -> bool:
    """Whether a file whose status last changed at `ctime_ns` (set by the kernel's clock on every write,
    unlike mtime, which anyone may set) was changed long enough ago (see RACY_NS) that a change now would
    give it another stat."""
    window = RACY_WHOLE_SECONDS_NS if ctime_ns % 1_000_000_000 == 0 else RACY_NS
    return (time.time_ns() if now_ns is None else now_ns) - ctime_ns >= window


def _entry(line: str) -> tuple[Any, Any] | None:
    """A line's signature and value, or None for a damaged line."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 3:
        return None
    try:
        return json.loads(fields[1]), json.loads(fields[2])
    except ValueError:
        return None
