"""Restore a model's files from the local store into a directory, safely and atomically.

Every path comes from an untrusted artifact: absolute paths, `..` and links that would leave the
output directory are refused. Files are assembled in a temporary directory beside the output and
renamed into place only when all of them are written, so a refused or interrupted unpack leaves
nothing behind. Output files are copies (reflinks where the filesystem can), never the store's own
files, unless hard links are asked for; then they are read-only.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
from pathlib import Path, PurePosixPath
from typing import Protocol

from modelpack.advice import compose, setting
from modelpack.artifact_paths import safe_relpath
from modelpack.confined import Confined, inside
from modelpack.errors import IntegrityError, UnsafePathError, UsageError
from modelpack.file_attributes import file_metadata, file_mode, recorded_time, set_attributes
from modelpack.filecopy import clone_or_copy
from modelpack.files import current_umask, new_dir_mode
from modelpack.formats import default_name, is_foreign_archive
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.output_folder import check_output, discard_work_folder, release_work_folder, work_folder
from modelpack.space import require_space, same_filesystem
from modelpack.streams import ByteStream

CHUNK = 1024 * 1024
log = logging.getLogger("modelpack.unpack")


def layer_path(layer: Descriptor) -> str | None:
    """The relative path a layer restores to: model-spec's filepath, else the OCI title (oras), else
    the name another tool's format implies (Docker model artifacts)."""
    return layer.annotation(mt.A_FILEPATH, mt.LEGACY_A_FILEPATH, mt.A_TITLE) or default_name(layer.media_type)


def layer_is_archive(layer: Descriptor) -> bool:
    parsed = mt.parse_layer_media_type(layer.media_type)
    if parsed is not None:
        return parsed[1] != "raw"
    if is_foreign_archive(layer.media_type):
        return True
    # oras CLI: a directory pushed as a tar+gzip layer it marks for unpacking.
    return layer.annotation(mt.A_ORAS_UNPACK) == "true"


class BlobSource(Protocol):
    def open_blob(self, desc: Descriptor) -> ByteStream: ...

    def verified_path(self, desc: Descriptor) -> Path | None:
        """A verified file holding the blob, for output files to be copied (or linked) from; None to
        stream it through open_blob instead."""
        ...


class MovableBlobSource(BlobSource, Protocol):
    def take(self, desc: Descriptor, target: Path) -> bool:
        """Move the blob's own verified file to `target` (a rename: a blob downloaded for this restore
        alone); False when it cannot (already moved: copy it from `verified_path` instead)."""
        ...


class Restored(list[str]):
    """The artifact's file paths, relative to the output; `unchanged`: those of them that were there
    already, equal (merging with force), and were left as they were."""

    unchanged: frozenset[str] = frozenset()


def unpack_manifest(manifest: Manifest, blobs: BlobSource, output: Path, *, link: bool = False,
                    force: bool = False, unchanged: frozenset[str] = frozenset(),
                    space_checked: bool = False) -> Restored:
    """Write every layer of `manifest` under `output`. Returns the artifact's file paths.

    Args:
        manifest: the model's manifest; its layers name the files.
        blobs: where the layers' bytes are (the local store).
        output: a new or empty directory; with `force`, an existing one too.
        link: hard-link files to the store's blobs instead of copying them (same filesystem only);
            the files, and so the blobs, are then made read-only.
        force: merge into an existing directory: files that differ from the artifact's are replaced
            (each by one rename), equal ones (by size and digest) and files not in the artifact are
            left alone.
        unchanged: with `force`, files the caller already found equal in `output` (not read again).
        space_checked: the caller has already made sure the files fit (its blobs are on that disk now).

    Returns:
        The artifact's file paths, relative to `output` (`unchanged`: those left as they were).

    Raises:
        UsageError: `output` is not empty (and not `force`), or a file's place there is a directory.
        UnsafePathError: the artifact names a path that must not be written.

    Each output file is independent of the store (a reflink or a copy, see filecopy) unless `link`.
    Everything is assembled in a staging directory first: a refused or interrupted unpack leaves the
    output as it was, and `force` replaces each file by a rename, so no file is ever half-written."""
    output = output.absolute()
    merge = check_output(output, force)
    link = link and _linkable(manifest, blobs, output)
    if not (link or space_checked):  # (links take no room; where they cannot be made, a full disk fails cleanly)
        require_space([(output, sum(layer.size for layer in manifest.layers
                                    if not (merge and same_size(output, layer))))])
    staging = work_folder(output, merge)
    try:
        written, kept = _assemble(manifest, blobs, staging, link, output if merge else None, unchanged,
                                  current_umask())
        if merge:
            merge_staged(staging, output, [rel for rel in written if rel not in kept])
            discard_work_folder(staging)
        elif rename_into_place(staging, output):
            release_work_folder(staging)
        else:
            # Another process (a second pull into the same folder) filled `output` since it was checked.
            refuse_filled_meanwhile(output, force)
            merge_staged(staging, output, written)
            discard_work_folder(staging)
    except BaseException as exc:
        discard_work_folder(staging)
        if isinstance(exc, OSError):
            raise naming_output(exc, staging, output) from None
        raise
    restored = Restored(written)
    restored.unchanged = frozenset(kept)
    return restored


def rename_into_place(staging: Path, output: Path) -> bool:
    """Make the staged folder `output` (absent or empty); False if `output` has files by now. It keeps the
    mode of the empty folder it replaces, else gets a new folder's (the umask's)."""
    try:
        mode = stat.S_IMODE(output.stat().st_mode)
    except OSError:
        mode = new_dir_mode()
    os.chmod(staging, mode)
    try:
        with contextlib.suppress(FileNotFoundError):  # (another pull may have just removed it to rename its own)
            output.rmdir()
        os.rename(staging, output)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
    return True


def refuse_filled_meanwhile(output: Path, force: bool) -> None:
    """Without `force`, refuse an output another process filled since it was checked (nothing is written).

    Raises:
        UsageError: `output` was filled meanwhile and `force` is not set.
    """
    if not force:
        raise UsageError(f"output directory {output} was filled by another process while this one ran; "
                         "nothing was written", advice=compose("{} replaces the files that differ",
                                                              setting("force=True", "--force")))


def _linkable(manifest: Manifest, blobs: BlobSource, output: Path) -> bool:
    """Hard links cannot cross filesystems: there --link copies, and says so (no silent extra space)."""
    source = next((path for path in (blobs.verified_path(layer) for layer in manifest.layers
                                     if not layer_is_archive(layer)) if path is not None), None)
    if source is None or same_filesystem(source, output):
        return True
    log.warning(compose("warning: {} is on another filesystem than the local store: hard links cannot reach it, so "
                        "{} copies the files there (writable, taking their own space)", str(output),
                        setting("link=True", "--link")))
    return False


def naming_output(exc: OSError, staging: Path | None, output: Path) -> OSError:
    """The same error, naming the path the user asked for rather than our hidden staging folder."""
    name = str(exc.filename or "")
    if staging is not None and name.startswith(str(staging)):
        name = str(output) + name[len(str(staging)):]
    elif not name or ".partial-" in name:
        name = str(output)
    return OSError(exc.errno, exc.strerror, name)


def _assemble(manifest: Manifest, blobs: BlobSource, staging: Path, link: bool,
              existing: Path | None, known_equal: frozenset[str], umask: int) -> tuple[list[str], set[str]]:
    """Write the layers under `staging`, with their recorded modes less `umask`; with `existing`, skip files
    already equal there."""
    written: list[str] = []
    unchanged: set[str] = set()
    paths = file_paths(manifest)
    confined = Confined(staging)
    claimed: set[str] = set()  # a file left unchanged is not in `staging` to be found there twice
    for layer in manifest.layers:
        if layer_is_archive(layer):  # entries carry their own paths, relative to the model root
            from modelpack.archives import extract_archive  # (with tarfile) only for a model with archives

            names = extract_archive(layer, blobs.open_blob, staging, lambda name: _place(staging, name),
                                    umask=umask)
            _claim(claimed, names)
            written.extend(names)
            _stamp_archive(staging, layer)
            confined.forget()
            continue
        rel = paths[layer.digest, layer_path(layer)]
        _claim(claimed, [rel])
        written.append(rel)
        if existing is not None and (rel in known_equal or same_file(existing / rel, layer)):
            unchanged.add(rel)
            continue
        _write_file(layer, rel, blobs, confined, link, umask)
    return written, unchanged


def _claim(claimed: set[str], names: list[str]) -> None:
    """Add `names` to the paths written so far, refusing one written before (by any layer)."""
    for name in names:
        if name in claimed:
            raise UnsafePathError(f"refused artifact: {name!r} is written twice")
        claimed.add(name)


def _stamp_archive(root: Path, layer: Descriptor) -> None:
    """Give what an archive layer restored (a folder and all in it, or one compressed file) the
    modification time its layer records, so packing it again describes it the same way."""
    stamp = recorded_time(file_metadata(layer).get("mtime"))
    path = layer_path(layer)
    if stamp is None or path is None:
        return
    try:
        folder = inside(root, safe_relpath(path))
    except UnsafePathError:
        return
    if folder.is_symlink() or not folder.exists():
        return
    if not folder.is_dir():
        with contextlib.suppress(OSError, OverflowError):
            os.utime(folder, (stamp, stamp), follow_symlinks=False)
        return
    for current, dirs, files in os.walk(folder, topdown=False):  # a folder after what is in it
        for name in [*files, *dirs, ""]:
            with contextlib.suppress(OSError, OverflowError):
                os.utime(os.path.join(current, name) if name else current, (stamp, stamp), follow_symlinks=False)


def file_paths(manifest: Manifest) -> dict[tuple[str, str | None], str]:
    """The checked relative path of every file layer, keyed by (digest, path as annotated): all are
    refused before anything is written when one cannot be restored.

    Raises:
        IntegrityError: a file layer names no path.
        UnsafePathError: a path is unsafe, written twice, or both a file and a folder of another file.
    """
    paths: dict[tuple[str, str | None], str] = {}
    files: set[str] = set()
    folders: dict[str, str] = {}  # folder -> a file below it
    for layer in manifest.layers:
        if layer_is_archive(layer):
            continue
        raw_path = layer_path(layer)
        if raw_path is None:
            raise IntegrityError(f"layer {layer.digest} names no file path ({mt.A_FILEPATH}); cannot unpack it")
        rel = safe_relpath(raw_path)
        if rel in files:
            raise UnsafePathError(f"refused artifact: two layers write {rel!r}")
        if rel in folders:
            raise UnsafePathError(f"refused path {rel!r}: it is a folder in this artifact (of {folders[rel]!r})")
        parts = rel.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder in files:
                raise UnsafePathError(f"refused path {rel!r}: {folder!r} is a file in this artifact")
            folders.setdefault(folder, rel)
        files.add(rel)
        paths[layer.digest, raw_path] = rel
    return paths


def same_size(output: Path, layer: Descriptor) -> bool:
    """A file of the layer's size is already at its place (a --force restore will likely keep it)."""
    path = layer_path(layer)
    try:
        return path is not None and (output / path).lstat().st_size == layer.size
    except (OSError, ValueError):
        return False


def same_file(path: Path, layer: Descriptor) -> bool:
    """Whether `path` is a regular file (not a link) holding exactly the layer's bytes."""
    try:
        st = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != layer.size:
        return False
    try:
        with open(path, "rb", buffering=0) as f:
            digests.verify_stream(f, layer.digest, layer.size)
    except IntegrityError:
        return False
    return True


def merge_staged(staging: Path, output: Path, files: list[str]) -> None:
    """Move staged files into `output`, each by one rename. Every target is checked before any folder is
    made (a refusal leaves `output` as it was, and a link of it leading outside gets no folder made
    through it) or any file moves; folders made for a move that then fails are removed again."""
    confined = Confined(output)  # (resolves what exists of each folder: checked before it is made)
    for rel in files:
        for parent in reversed(PurePosixPath(rel).parents[:-1]):
            place = output / parent
            if place.exists() and not place.is_dir():
                raise UsageError(f"cannot restore {rel!r}: {place} is a file, not a folder")
        target = confined.place(rel)
        if target.is_dir() and not target.is_symlink():
            raise UsageError(f"cannot restore {rel!r}: {target} is a folder")
    made: list[Path] = []
    try:
        for rel in files:
            for parent in reversed(PurePosixPath(rel).parents[:-1]):
                with contextlib.suppress(FileExistsError):
                    (output / parent).mkdir()
                    made.append(output / parent)
            os.replace(staging / rel, output / rel)
    except BaseException:
        for folder in reversed(made):  # only those still empty: a file moved in stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _place(root: Path, name: str) -> str:
    rel = safe_relpath(name)
    inside(root, rel)
    return rel


def _write_file(layer: Descriptor, rel: str, blobs: BlobSource, root: Confined, link: bool, umask: int) -> None:
    target = root.root / rel
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # an archive layer wrote a file where a folder goes
        raise UnsafePathError(f"refused path {rel!r}: a folder of it is a file in this artifact") from None
    target = root.place(rel)
    if target.is_symlink() or target.exists():
        raise UnsafePathError(f"refused artifact: {rel!r} is written twice")
    mode = file_mode(layer) & ~umask
    stamp = recorded_time(file_metadata(layer).get("mtime"))
    take = getattr(blobs, "take", None)
    if take is not None and take(layer, target):
        set_attributes(target, mode, stamp)
        return
    source = blobs.verified_path(layer)
    if source is not None and link and _link(source, target, mode & ~0o222, stamp):
        return
    if source is not None:
        clone_or_copy(source, target)  # independent of the store: editing it cannot corrupt a blob
    else:
        with blobs.open_blob(layer) as src, open(target, "xb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    set_attributes(target, mode, stamp)


def _link(source: Path, target: Path, mode: int, stamp: float | None) -> bool:
    """Hard-link `target` to `source` (asked for with --link; `mode` is read-only, so the shared blob
    stays intact) unless another link already shares it with other attributes (two models holding the
    same bytes with different modes must not change each other's files)."""
    try:
        st = os.stat(source)
        same_mtime = stamp is None or int(st.st_mtime) == int(stamp)
        if st.st_nlink > 1 and (stat.S_IMODE(st.st_mode) != mode or not same_mtime):
            return False
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed: copy instead
        return False
    set_attributes(target, mode, stamp)
    return True
