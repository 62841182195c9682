"""The model's files as image layers: reproducible tars of `models/<path>`, large files on their own
layer (so an updated weight file is the only layer that changes), small files together."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from modelpack.file_attributes import file_mode
from modelpack.oci.descriptor import Manifest
from modelpack.packing.select import SourceFile
from modelpack.packing.tarball import tar_chunks as reproducible_tar
from modelpack.unpacking import file_paths, layer_is_archive, layer_path

OWN_LAYER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class FileEntry:
    path: str  # inside the image, e.g. models/weights/model.safetensors
    source: Path  # the blob in the local store
    size: int
    mode: int


def model_files(manifest: Manifest, blob_path: Callable[[str], Path], root: str = "models") -> list[FileEntry]:
    """The files of a ModelPack (or ORAS) manifest as image paths; archives are not supported here.

    Raises:
        ValueError: a layer is an archive.
        IntegrityError: a layer names no path, or (UnsafePathError) a path is unsafe, two layers write one
            path, or a file is another's folder: what `pull -o` refuses. The image would hold one of two
            such files (the one on the higher layer) while its checks read the other.
    """
    for layer in manifest.layers:
        if layer_is_archive(layer):
            raise ValueError(f"layer {layer.digest} is an archive; build-image supports file layers only")
    paths = file_paths(manifest)
    entries = [FileEntry(f"{root}/{paths[layer.digest, layer_path(layer)]}", blob_path(layer.digest), layer.size,
                         file_mode(layer)) for layer in manifest.layers]
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


# RFC 3339 as Go's time.Time reads it (encoding/json): containerd, Docker, podman and skopeo parse an image
# config's `created` and history times so, and refuse the whole config over one they cannot read.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


def image_time(created: object) -> str | None:
    """A model's `created` as an image's config, history and annotations may carry it, or None.

    Args:
        created: the model's recorded time, as its metadata holds it (the artifact wrote it: any text).

    Returns:
        The text when it is an RFC 3339 date and time (with seconds and a zone) naming a real moment;
        None otherwise, so the image records no time rather than one no container tool reads.
    """
    if not isinstance(created, str) or not _RFC3339.fullmatch(created):
        return None
    try:
        datetime.fromisoformat(created.replace("Z", "+00:00"))  # a real date: not 2024-02-30, not 25:00
    except ValueError:
        return None
    return created


def epoch_of(created: str | None) -> int:
    if not created:
        return 0
    try:
        return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
