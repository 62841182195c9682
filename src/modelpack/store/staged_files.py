"""`pull -o` into a new directory with each file received straight at its own path.

Otherwise (see `directory` and `unpacking`) every blob is received into a hidden folder under its digest
and, once all are there, each is moved to its path: for a model of 2,000 small files that is 2,000
folder checks, renames and attribute calls made one after another at the end, while the registry has
nothing left to do (about a third of our CPU in such a pull, measured with py-spy). Here each file is
received at its path inside a hidden staging folder beside the output, given its mode and time as it is
closed, and the end is one rename of that folder: the output still appears whole or not at all.

Only where that gives the same result: a new or empty output (not merging into files already there) and
no archive layers (their entries may plant links, so such models keep unpacking's order, files after
each archive with their folders checked again).
"""

from __future__ import annotations

import errno
import threading
from pathlib import Path

from modelpack.confined import Confined
from modelpack.file_attributes import restore_attributes
from modelpack.filecopy import clone_or_copy
from modelpack.files import current_umask
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.output_folder import discard_work_folder, release_work_folder, work_folder
from modelpack.unpacking import (
    file_paths,
    layer_is_archive,
    layer_path,
    merge_staged,
    naming_output,
    refuse_filled_meanwhile,
    rename_into_place,
)


class StagedFiles:
    """The hidden folder a pull's files are received into at their own paths, renamed to `output` at the end.

    Args:
        manifest: the manifest pulled (its paths are checked here, as `file_paths` checks them).
        output: the directory the files are for: new, or empty.
        force: if another process fills `output` meanwhile, merge into it (else refuse, writing nothing).
    """

    def __init__(self, manifest: Manifest, output: Path, force: bool = False) -> None:
        self.manifest = manifest
        self.output = output
        self.force = force  # an output another process fills meanwhile is merged into, not refused
        self._paths = file_paths(manifest)
        self._waiting: dict[str, list[tuple[str, Descriptor]]] = {}  # digest -> (path, layer) not yet received
        for layer in manifest.layers:
            self._waiting.setdefault(layer.digest, []).append((self._rel(layer), layer))
        self._received: set[str] = set()  # paths holding their bytes now
        self._lock = threading.Lock()
        self._folder: Path | None = None
        self._confined: Confined | None = None
        self._discarded = False  # after `discard`, nothing more is claimed (a late small blob makes no new folder)
        self._umask = current_umask()  # (read once: modes are given file by file)

    @staticmethod
    def applies(manifest: Manifest, merge: bool) -> bool:
        """Whether files may be received at their paths: no merging into an existing output, no archives."""
        return not merge and not any(layer_is_archive(layer) for layer in manifest.layers)

    def claim(self, desc: Descriptor) -> tuple[Path, Descriptor] | None:
        """The staged path the blob's next file is received at (its folders made), with that file's layer;
        None when the blob restores no file not yet received (a config, or a file already there)."""
        with self._lock:
            if self._discarded:
                raise OSError(errno.ESHUTDOWN, "the pull was stopped", str(self.output))
            waiting = self._waiting.get(desc.digest)
            if not waiting:
                return None
            rel, layer = waiting.pop(0)
            folder, confined = self._staging()
        try:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            return confined.place(rel), layer
        except BaseException:
            self.unclaim(layer)
            raise

    def unclaim(self, layer: Descriptor) -> None:
        """A claimed file's bytes were not received (the caller removed any it wrote): another try may claim it."""
        with self._lock:
            self._waiting.setdefault(layer.digest, []).insert(0, (self._rel(layer), layer))

    def received(self, path: Path, layer: Descriptor) -> None:
        """The file claimed for `layer`, at `path`, holds its verified bytes: it gets the layer's mode and time."""
        restore_attributes(path, layer, self._umask)
        with self._lock:
            self._received.add(self._rel(layer))

    def complete(self, verified_path: dict[str, Path]) -> list[str]:
        """Write the files still missing (more paths with the bytes of one received), then rename the
        staging folder to the output. Returns every file's path, in the manifest's order.

        Args:
            verified_path: for each digest received, a file holding its bytes.

        Raises:
            OSError: the folder could not be renamed, or a file copied (naming the output, not our folder).
        """
        folder, confined = self._staging()
        written = []
        try:
            for layer in self.manifest.layers:
                rel = self._rel(layer)
                written.append(rel)
                if rel in self._received:
                    continue
                target = folder / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                clone_or_copy(verified_path[layer.digest], confined.place(rel))
                restore_attributes(target, layer, self._umask)
            if rename_into_place(folder, self.output):
                release_work_folder(folder)
            else:  # another process (a second pull into the same folder) filled the output meanwhile
                refuse_filled_meanwhile(self.output, self.force)
                merge_staged(folder, self.output, written)
                discard_work_folder(folder)
        except OSError as exc:
            raise naming_output(exc, folder, self.output) from None
        with self._lock:
            self._folder = None
        return written

    def discard(self) -> None:
        """Remove the staging folder and whatever it holds (after a failure; nothing once it is the output)."""
        with self._lock:
            self._discarded = True
            folder, self._folder = self._folder, None
        if folder is not None:
            discard_work_folder(folder)

    def folder(self) -> Path | None:
        """The staging folder, if one was made and is not yet the output."""
        with self._lock:
            return self._folder

    def _staging(self) -> tuple[Path, Confined]:
        if self._folder is None or self._confined is None:
            self._folder = work_folder(self.output, False)
            self._confined = Confined(self._folder)
        return self._folder, self._confined

    def _rel(self, layer: Descriptor) -> str:
        return self._paths[layer.digest, layer_path(layer)]
