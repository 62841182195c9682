"""The model's files as image layers: reproducible tars of `models/<path>`, large files on their own
layer (so an updated weight file is the only layer that changes), small files together."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.unpacking import layer_is_archive, layer_path, safe_relpath

OWN_LAYER_BYTES = 64 * 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
CHUNK = 1024 * 1024


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
        meta = _meta(layer)
        mode = int(meta["mode"]) & 0o777 if isinstance(meta.get("mode"), int) else 0o644
        entries.append(FileEntry(f"{root}/{safe_relpath(path)}", blob_path(layer.digest), layer.size, mode))
    return sorted(entries, key=lambda e: e.path)


def group(entries: list[FileEntry]) -> list[list[FileEntry]]:
    large = [[e] for e in entries if e.size >= OWN_LAYER_BYTES]
    small = [e for e in entries if e.size < OWN_LAYER_BYTES]
    return ([small] if small else []) + large


def tar_chunks(entries: list[FileEntry], mtime: int) -> Iterator[bytes]:
    """A PAX tar of the entries with their parent folders, fixed owner and mtime, streamed."""
    total = 0
    folders: set[str] = set()
    for entry in entries:
        parts = entry.path.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder not in folders:
                folders.add(folder)
                header = _header(folder + "/", tarfile.DIRTYPE, 0o755, 0, mtime)
                total += len(header)
                yield header
        header = _header(entry.path, tarfile.REGTYPE, entry.mode, entry.size, mtime)
        total += len(header)
        yield header
        sent = 0
        with open(entry.source, "rb") as f:
            while chunk := f.read(CHUNK):
                sent += len(chunk)
                yield chunk
        if sent != entry.size:
            raise ValueError(f"{entry.source} changed size while building the image")
        total += sent
        if sent % BLOCK:
            pad = BLOCK - sent % BLOCK
            total += pad
            yield b"\0" * pad
    end = b"\0" * (2 * BLOCK)
    total += len(end)
    yield end + b"\0" * (-total % RECORD)


def _header(name: str, kind: bytes, mode: int, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _meta(layer: Descriptor) -> dict:
    text = layer.annotation(mt.A_FILE_METADATA, mt.LEGACY_A_FILE_METADATA)
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def epoch_of(created: str | None) -> int:
    if not created:
        return 0
    try:
        return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
