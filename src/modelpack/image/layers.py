"""The model's files as image layers: reproducible tars of `models/<path>`, large files on their own
layer (so an updated weight file is the only layer that changes), small files together."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from modelpack.file_attributes import file_mode
from modelpack.oci.descriptor import Manifest
from modelpack.packing.select import SourceFile
from modelpack.packing.tarball import tar_chunks as reproducible_tar
from modelpack.unpacking import layer_is_archive, layer_path, safe_relpath

OWN_LAYER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class FileEntry:
    path: str  # inside the image, e.g. models/weights/model.safetensors
    source: Path  # the blob in the local store
    size: int
    mode: int


def model_files(manifest: Manifest, blob_path: Callable[[str], Path], root: str = "models") -> list[FileEntry]:
    """The files of a ModelPack (or ORAS) manifest as image paths; archives are not supported here."""
    entries = []
    for layer in manifest.layers:
        if layer_is_archive(layer):
            raise ValueError(f"layer {layer.digest} is an archive; build-image supports file layers only")
        path = layer_path(layer)
        if path is None:
            continue
        entries.append(FileEntry(f"{root}/{safe_relpath(path)}", blob_path(layer.digest), layer.size,
                                 file_mode(layer)))
    return sorted(entries, key=lambda e: e.path)


def group(entries: list[FileEntry]) -> list[list[FileEntry]]:
    large = [[e] for e in entries if e.size >= OWN_LAYER_BYTES]
    small = [e for e in entries if e.size < OWN_LAYER_BYTES]
    return ([small] if small else []) + large


def tar_chunks(entries: list[FileEntry], mtime: int) -> Iterator[bytes]:
    """A reproducible tar of the entries and their parent folders (the same writer `pack` uses)."""
    members: list[SourceFile] = []
    folders: set[str] = set()
    for entry in entries:
        parts = entry.path.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder not in folders:
                folders.add(folder)
                members.append(SourceFile(folder, entry.source, 0o755, 0, mtime, is_dir=True))
        members.append(SourceFile(entry.path, entry.source, entry.mode, entry.size, mtime))
    return reproducible_tar(members, mtime)


def epoch_of(created: str | None) -> int:
    if not created:
        return 0
    try:
        return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
