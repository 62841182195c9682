"""Walk a model directory and decide which files become which layers."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.errors import UsageError
from modelpack.metadata.filename import METADATA_FILE
from modelpack.oci.mediatypes import Kind
from modelpack.packing.classify import classify, classify_folder
from modelpack.packing.globs import matches
from modelpack.packing.links import LinkPolicy

if TYPE_CHECKING:
    from modelpack.packing.rules import FileSelection

# Never packed: version control internals and our own metadata file (it becomes annotations and config).
ALWAYS_EXCLUDED = (".git", ".hg", ".svn", ".modelpack")
# Files and folders one walk may find: far past what a manifest or an archive takes, but a bound on
# links that repeat folders inside folders (each level doubles the tree).
MAX_WALKED = 2_000_000


# Slots, and the walk's paths kept as str: one record per file of a model that may have ~9,000 (a
# per-instance dict and a Path each cost more than the rest of the record).
@dataclass(frozen=True, slots=True)
class SourceFile:
    relpath: str  # posix, relative to the model root
    path: str | Path  # where to read it (symlinks already resolved)
    mode: int  # permission bits
    size: int
    mtime: int
    is_dir: bool = False
    # What the walk's stat said (mtime_ns, ctime_ns, inode, device), before any byte was read: keys a
    # folder's tar in the hash cache (see archive_key). Empty for files not found by a walk.
    stamp: tuple[int, ...] = ()


@dataclass(slots=True)
class LayerSource:
    """One future layer: a single file, or a folder declared as one archive."""

    relpath: str
    kind: Kind
    certain: bool
    files: list[SourceFile] = field(default_factory=list)
    archive: bool = False


def select_layers(root: Path, rules: FileSelection) -> list[LayerSource]:
    """The layers for `root`, sorted by path. Raises UsageError for an empty selection or odd files."""
    root = root.resolve()
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    archives = [a.strip("/").removeprefix("./") for a in rules.archives]
    for folder in archives:
        if not (root / folder).is_dir():
            raise UsageError(f"files.archives: {folder!r} is not a folder of {root}")
    layers: dict[str, LayerSource] = {}
    rank = {folder: i for i, folder in reversed(list(enumerate(archives)))}  # a folder listed twice: its first
    for item in _walk(root, rules.exclude):
        if not _selected(item.relpath, item.is_dir, rules):
            continue
        owner = _owner(item.relpath, rank)
        if owner is not None:
            layer = layers.setdefault(owner, LayerSource(owner, "weight", False, archive=True))
            layer.files.append(item)
        elif not item.is_dir:
            kind, certain = classify(item.relpath, rules, root)
            layers[item.relpath] = LayerSource(item.relpath, kind, certain, files=[item])
    if not layers:
        if all(entry.name == METADATA_FILE for entry in root.iterdir()):  # the rules are not why: nothing is there
            raise UsageError(f"no files to pack in {root}: it holds no model files; put them there, or give "
                             "the folder that holds them")
        raise UsageError(f"no files to pack in {root} (check files.include / files.exclude)")
    for layer in layers.values():
        layer.files.sort(key=lambda f: f.relpath)
        if layer.archive:
            files = [f.relpath for f in layer.files if not f.is_dir]
            layer.kind, layer.certain = classify_folder(layer.relpath, files, rules, root)
    return [layers[k] for k in sorted(layers)]


def _owner(relpath: str, rank: dict[str, int]) -> str | None:
    """The archive folder holding `relpath` (or that is it): of those that do, the one listed first.
    Looked up per parent folder, not per archive: 100,000 files in 100 archives took 2 s the other way."""
    found: str | None = None
    end = relpath.find("/")
    while True:
        prefix = relpath if end < 0 else relpath[:end]
        if prefix in rank and (found is None or rank[prefix] < rank[found]):
            found = prefix
        if end < 0:
            return found
        end = relpath.find("/", end + 1)


def _selected(relpath: str, is_dir: bool, rules: FileSelection) -> bool:
    if relpath == METADATA_FILE:
        return False
    if any(matches(p, relpath) for p in rules.exclude):
        return False
    if rules.include and not is_dir:
        return any(matches(p, relpath) for p in rules.include)
    return True


def _walk(root: Path, exclude: Sequence[str]) -> list[SourceFile]:
    """Every file and folder below root. Links are followed only where they stay inside root (see
    links.LinkPolicy: a Hugging Face cache snapshot is all links into its blobs folder). A link to a
    folder is packed as that folder's content, as a link to a file is (the folder keeps its own place
    too, whichever name sorts first); a link back to a folder it is inside is a loop, refused by name.
    What `exclude` matches is not looked at: an excluded link may be broken or lead anywhere, and an
    excluded folder (a virtualenv, a cache) is not walked.

    Raises:
        UsageError: a link leaves root or loops; more than MAX_WALKED entries (links repeating folders).
    """
    found: list[SourceFile] = []
    links = LinkPolicy(root)

    def visit(folder: str, prefix: str, above: dict[str, str]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise UsageError(f"cannot read {prefix or folder}: {exc.strerror}") from None
        for entry in entries:
            relpath = f"{prefix}{entry.name}"
            if entry.name in ALWAYS_EXCLUDED or any(matches(p, relpath) for p in exclude):
                continue
            real = links.resolve(entry.path, relpath) if entry.is_symlink() else entry.path
            try:
                st = os.stat(real)
            except OSError as exc:
                raise UsageError(f"{relpath}: cannot read it ({exc.strerror})") from None
            if len(found) >= MAX_WALKED:
                raise UsageError(f"more than {MAX_WALKED:,} files and folders in {links.root} (do links "
                                 "repeat folders?)")
            if stat.S_ISDIR(st.st_mode):
                if real in above:
                    raise UsageError(f"{relpath}: symbolic link loop (it leads back to "
                                     f"{above[real] or 'the model directory'})")
                found.append(SourceFile(relpath, real, 0o755, 0, int(st.st_mtime), is_dir=True, stamp=stamp_of(st)))
                visit(real, relpath + "/", {**above, real: relpath})
            elif stat.S_ISREG(st.st_mode):
                found.append(SourceFile(relpath, real, stat.S_IMODE(st.st_mode) & 0o777, st.st_size,
                                        int(st.st_mtime), stamp=stamp_of(st)))
            else:
                raise UsageError(f"{relpath}: not a regular file or folder (sockets, devices and FIFOs "
                                 "cannot be packed)")

    visit(links.root, "", {links.root: ""})
    return found


def stamp_of(st: os.stat_result) -> tuple[int, int, int, int]:
    """A file's `SourceFile.stamp`: what changes when it is written to, touched or replaced."""
    return st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev
