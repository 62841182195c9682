"""A directory of files as the destination of a copy: what `pull -o DIR` writes into (oras-go's file store).

Each blob is received once, straight from the registry, into a hidden folder on the output's
filesystem, its digest checked on the way: into a new output, at its file's own path in a folder that
becomes the output once every file is whole (see staged_files); otherwise under its digest, the files
moved into place by renames once every blob is there (see unpacking: paths checked, staged, nothing
half-written). Nothing goes into the local store,
so a 70 GB model costs 70 GB of disk and one write of each byte, as `oras pull` does. A blob the local
store already holds is copied from it (a reflink where the filesystem can) instead of downloaded.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
from collections.abc import Sequence
from pathlib import Path

from modelpack.errors import IntegrityError, NotFoundError
from modelpack.filecopy import clone_or_copy
from modelpack.files import sync_filesystem
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.output_folder import check_output, discard_work_folder, resume_folder, work_folder
from modelpack.space import require_space, size_text
from modelpack.store.layout import LayoutStore
from modelpack.store.receive import Receiver, write_all
from modelpack.store.resumable_ingest import (
    ingest_resumable,
    kept_downloads,
    received_bytes,
    resumable,
    sweep_kept,
)
from modelpack.store.staged_files import StagedFiles
from modelpack.store.target import Opener, Progress
from modelpack.streams import ByteStream
from modelpack.unpacking import file_paths, same_file, same_size, unpack_manifest

log = logging.getLogger("modelpack.store")

# A stopped download smaller than this is not kept beside the output: fetched again in seconds, it is not
# worth a hidden folder the user has to be told about.
KEEP_MIN_BYTES = 16 * 1024 * 1024


class DirectoryTarget:
    """Where a copy() of one manifest writes its files. `files` names them once the manifest is pushed.

    Args:
        manifest: the manifest that will be copied here; its paths are checked now, before any download.
        output: a new or empty directory; with `force`, an existing one (files that differ are replaced).
        local: a store whose blobs, where it has them, are copied instead of downloaded.

    Raises:
        UsageError: `output` is not empty and not `force`, or cannot be made.
        UnsafePathError, IntegrityError: the manifest names a path that cannot be restored.
    """

    def __init__(self, manifest: Manifest, output: Path, *, force: bool = False,
                 local: LayoutStore | None = None) -> None:
        self.manifest = manifest
        self.output = output.absolute()
        self.force = force
        self.local = local
        self.files: list[str] = []
        # Per digest, looked up once per blob: scanning every layer for each blob made `pull -o --force`
        # of 8,000 unchanged files take 24 s (2,000: 0.7 s).
        self._rels_of: dict[str, list[str]] = {}
        for (digest, _), rel in file_paths(manifest).items():
            self._rels_of.setdefault(digest, []).append(rel)
        self._layers_of: dict[str, list[Descriptor]] = {}
        for layer in manifest.layers:
            self._layers_of.setdefault(layer.digest, []).append(layer)
        self._merge = check_output(self.output, force)
        # Into a new output, each file is received at its own path (see staged_files).
        self._staged = StagedFiles(manifest, self.output, force) if StagedFiles.applies(manifest, self._merge) \
            else None
        self._receiver = Receiver()
        self._lock = threading.Lock()
        self._folder: Path | None = None
        self._closed = False  # a small blob's bytes arriving after close (Ctrl-C) must not make a new folder
        self._received: dict[str, Path] = {}  # digest -> its verified file (downloaded, or moved into place)
        self._taken: set[str] = set()  # digests whose downloaded file has been moved to a restored path
        self._equal: set[str] = set()  # with force: paths whose file in `output` is already the artifact's
        self.from_store: set[str] = set()  # digests copied from the local store, not downloaded
        self._unsynced = False  # blobs kept by accept_bytes, written without an fsync each
        # Large downloads a stopped pull leaves for the next pull into this output (see resumable_ingest).
        self._kept = resume_folder(self.output, self._merge)
        self._done = False

    # -- what copy() asks of a destination --------------------------------------------------------
    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Held while the copy runs: blobs copied from the local store are not garbage-collected meanwhile."""
        return self.local.reading() if self.local is not None else contextlib.nullcontext()

    def find(self, version: str) -> Descriptor | None:
        return None  # a directory keeps no tags: every pull writes the files

    def resolve(self, version: str) -> Descriptor:
        raise NotFoundError(f"{self.output} is a directory of files, not a store of manifests")

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        raise NotFoundError(f"{self.output} is a directory of files, not a store of manifests")

    def open_blob(self, desc: Descriptor) -> ByteStream:
        """A received blob (an archive layer being extracted)."""
        path = self._received.get(desc.digest)
        if path is None:
            raise NotFoundError(f"blob {desc.digest} was not received")
        return open(path, "rb")

    def has_manifest(self, desc: Descriptor) -> bool:
        return False

    def has_blob(self, desc: Descriptor) -> bool:
        """With `force`: whether every file this blob restores is already there, byte for byte."""
        if not self._merge:
            return False
        rels = self._rels(desc)
        if not rels or not all(same_file(self.output / rel, desc) for rel in rels):
            return False
        with self._lock:
            self._equal.update(rels)
        return True

    def prepare_blobs(self, blobs: list[Descriptor]) -> None:
        """Refuse what cannot fit before anything is received; make the hidden folder blobs go to."""
        sizes = [blob.size for blob in blobs if not (self._merge and self._rels(blob)
                                                       and all(same_size(self.output, layer)
                                                               for layer in self._layers(blob)))]
        kept = sum(kept_downloads(self._kept, blobs).values())  # on the disk already
        require_space([(self.output, max(0, sum(sizes) - kept))])
        self._folder = work_folder(self.output, self._merge, "download-")

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        """Receive a blob into the hidden folder, verified; from the local store when it has it."""
        path, layer = self._place_for(desc)
        try:
            if self._copy_from_store(desc, path):
                with self._lock:
                    self.from_store.add(desc.digest)
                if progress:
                    progress(desc.size)
            elif resumable(opener, desc) and self._resume_folder():
                ingest_resumable(self._receiver, self._kept, path, desc, opener, progress, mode=0o600)
            else:
                # Read-write: a blob fetched in ranges is read back to be hashed (see ranged).
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    with opener() as source:
                        self._receiver.receive(desc, source, fd, progress)
                except BaseException:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    raise
        except BaseException:
            if layer is not None and self._staged is not None:
                self._staged.unclaim(layer)
            raise
        self._keep(desc, path, layer)

    def wants_bytes(self, desc: Descriptor) -> bool:
        """Whether a small blob's bytes may be handed over whole (`accept_bytes`): not when the local store
        has it (it is copied from there instead)."""
        return self.local is None or not self.local.has_blob(desc)

    def accept_bytes(self, desc: Descriptor, data: bytes) -> bool:
        """Keep a small blob fetched whole, if its bytes are `desc`'s; False (nothing kept) otherwise. Not
        synced one by one: `push_manifest` flushes the filesystem once before any file is renamed into place."""
        if len(data) != desc.size or digests.of_bytes(data) != desc.digest or self._closed:
            return False
        path, layer = self._place_for(desc)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb", buffering=0) as out:
                    write_all(out, data)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                raise
        except BaseException:
            if layer is not None and self._staged is not None:
                self._staged.unclaim(layer)
            raise
        with self._lock:
            self._unsynced = True
        self._keep(desc, path, layer)
        return True

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        """Every blob is here: restore the files (a rename each) and remove the hidden folder."""
        if self._unsynced:
            folder = self._folder or (self._staged.folder() if self._staged is not None else None)
            if folder is not None:
                sync_filesystem(folder)  # their bytes on disk before their names are
        if self._staged is not None:
            self.files = self._staged.complete(self._received)
        else:
            self.files = unpack_manifest(self.manifest, self, self.output, force=self.force,
                                         unchanged=frozenset(self._equal), space_checked=True)
        self._done = True

    # -- what unpacking asks of a blob source -----------------------------------------------------
    def verified_path(self, desc: Descriptor) -> Path | None:
        return self._received.get(desc.digest)

    def take(self, desc: Descriptor, target: Path) -> bool:
        with self._lock:
            path = self._received.get(desc.digest)
            if path is None or desc.digest in self._taken:
                return False
            os.rename(path, target)
            self._taken.add(desc.digest)
            self._received[desc.digest] = target  # a second path with these bytes is copied from here
        return True

    def close(self) -> None:
        """Remove the hidden folder and whatever is left in it (all of it, after a failure)."""
        with self._lock:
            self._closed = True
            folder, self._folder = self._folder, None
        if folder is not None:
            discard_work_folder(folder)
        if self._staged is not None:
            self._staged.discard()
        self._close_kept()

    # -- helpers -----------------------------------------------------------------------------------
    def _resume_folder(self) -> bool:
        """Make the folder of kept downloads; False (the blob is received as any other) where it cannot be
        ours: a symbolic link or a file of that name, or another user's folder (made first in a shared
        parent: theirs to rename or replace files in), is left alone."""
        with contextlib.suppress(FileExistsError):
            os.mkdir(self._kept, 0o700)
        return self._kept_is_ours()

    def _kept_is_ours(self) -> bool:
        try:
            st = os.lstat(self._kept)
        except OSError:
            return False
        return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()

    def _close_kept(self) -> None:
        """After the pull: its kept downloads are removed once the files are in place; after a stopped
        pull, the user is told where they are and how to resume or discard them."""
        if not self._kept_is_ours():  # (nor another user's files in theirs to remove or report)
            return
        if self._done:
            sweep_kept(self._kept)
            with contextlib.suppress(OSError):
                self._kept.rmdir()  # not if another pull into this output is writing there now
            return
        received = {entry.name: received_bytes(entry) for entry in self._kept.iterdir()}
        worth = {name: size for name, size in received.items() if size >= KEEP_MIN_BYTES}
        sweep_kept(self._kept, keep=worth)
        kept = sum(worth.values())
        if kept:
            log.warning("kept %s of unfinished downloads in %s: the same pull into %s resumes them "
                        "(remove that folder to discard them)", size_text(kept), self._kept, self.output)
        else:
            with contextlib.suppress(OSError):
                self._kept.rmdir()

    def _place_for(self, desc: Descriptor) -> tuple[Path, Descriptor | None]:
        """Where a blob is received: at the path of a file it restores (with that file's layer) when files
        are received in place, else in the hidden folder under its digest."""
        claimed = self._staged.claim(desc) if self._staged is not None else None
        if claimed is not None:
            return claimed
        return self._download_folder() / digests.hex_part(desc.digest)[1], None

    def _keep(self, desc: Descriptor, path: Path, layer: Descriptor | None) -> None:
        """Record a received blob's verified file; one received at its file's path gets its attributes."""
        if layer is not None and self._staged is not None:
            self._staged.received(path, layer)
        with self._lock:
            self._received[desc.digest] = path

    def _download_folder(self) -> Path:
        """The hidden folder blobs are received into, made once (prepare_blobs usually has)."""
        with self._lock:
            if self._closed:
                raise OSError(errno.ESHUTDOWN, "the pull was stopped", str(self.output))
            if self._folder is None:
                self._folder = work_folder(self.output, self._merge, "download-")
            return self._folder

    def _layers(self, desc: Descriptor) -> list[Descriptor]:
        return self._layers_of.get(desc.digest, [])

    def _rels(self, desc: Descriptor) -> list[str]:
        """The restored paths of the file layers holding these bytes (none for archives and configs)."""
        return self._rels_of.get(desc.digest, [])

    def _copy_from_store(self, desc: Descriptor, path: Path) -> bool:
        if self.local is None or not self.local.has_blob(desc):
            return False
        try:
            source = self.local.verified_path(desc)  # a corrupt blob is deleted there: download it instead
        except IntegrityError:
            return False
        if source is None:
            return False
        clone_or_copy(source, path)
        os.chmod(path, 0o600)
        return True
