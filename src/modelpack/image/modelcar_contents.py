"""What a modelcar image's /models holds, read from its own layers: the files KServe's runtime would load
from /mnt/models, whoever built the image (its annotations are the registry's to write, so only the
layers say what the pod mounts)."""

from __future__ import annotations

import posixpath
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack.archives import ArchiveLimits, _BoundedTarInfo, _corrupt_stream_refused, _packing
from modelpack.compression import decompressing
from modelpack.errors import IntegrityError
from modelpack.image.modelcar import SNIFF_BYTES, SNIFFED_SUFFIXES, refuse_unverified_pickles
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.store.target import Storage

ROOT = "models"  # KServe links the modelcar's /models to /mnt/models
MAX_LAYERS = 512  # every platform's together (overlayfs stacks at most 128 per image)
MAX_PLATFORMS = 32
_WHITEOUT = ".wh."


@dataclass
class ModelcarFiles:
    """The files under /models, as `modelcar.unpickled_files` reads them.

    Attributes:
        files: each path (relative to /models) and a file holding its first bytes (a `.bin` one's
            first SNIFF_BYTES; empty for the others, whose name is what a runtime goes by).
        sizes: each path's whole size.
        links: paths (absolute, e.g. `/models`) of links at or under /models: what they lead to is
            another layer's to say, so they are named, not followed.
    """

    files: dict[str, Path] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)


def modelcar_files(repo: Storage, node: Manifest | Index, folder: Path,
                   limits: ArchiveLimits | None = None) -> ModelcarFiles:
    """The files under /models in every layer of the image (of an index: of each platform's image). A file
    a later layer deletes is still counted: a refusal errs towards what was shipped.

    Args:
        repo: the image's repository.
        node: the image's manifest or index.
        folder: where the heads of `.bin` files are written.
        limits: entry count and size caps per layer (default: from the environment).

    Returns:
        The files and links found.

    Raises:
        IntegrityError: a layer is not a readable tar, crosses a limit, or the image has too many layers or
            platforms.
    """
    found = ModelcarFiles()
    seen: set[str] = set()
    for layer in _layers(repo, node):
        if layer.digest in seen:
            continue
        seen.add(layer.digest)
        if len(seen) > MAX_LAYERS:
            raise IntegrityError(f"refused image: more than {MAX_LAYERS} layers")
        for member, data in _members(repo, layer, limits or ArchiveLimits.from_env()):
            name = posixpath.normpath("/" + member.name).lstrip("/")
            if name != ROOT and not name.startswith(ROOT + "/"):
                continue
            if member.issym() or member.islnk():
                found.links.append("/" + name)
            elif member.isfile() and not posixpath.basename(name).startswith(_WHITEOUT):
                path = name[len(ROOT) + 1:]
                head = folder / f"{len(found.files)}.head"
                head.write_bytes(data)
                found.files[path], found.sizes[path] = head, member.size
    return found


def refuse_unverified_modelcar(repo: Storage, node: Manifest | Index, image: str) -> None:
    """Refuse a modelcar whose /models holds a file a KServe runtime unpickles (or a link, which may lead
    to one), as `build-image --modelcar` refuses such a model: for when no signature vouches for it.

    Args:
        repo: the image's repository.
        node: the image's manifest or index.
        image: the image's reference, for the message.

    Raises:
        UntrustedContentError: such a file or link is there (exit 2).
        IntegrityError: a layer cannot be read (see `modelcar_files`).
    """
    with tempfile.TemporaryDirectory(prefix="modelpack-modelcar-") as folder:
        found = modelcar_files(repo, node, Path(folder))
        refuse_unverified_pickles(found.files, image, found.sizes, links=found.links,
                                  doing=f"write an InferenceService of {image}")


def _layers(repo: Storage, node: Manifest | Index) -> Iterator[Descriptor]:
    if isinstance(node, Manifest):
        yield from node.layers
        return
    images = [m for m in node.manifests if m.platform is None or m.platform.os != "unknown"]
    if len(images) > MAX_PLATFORMS:
        raise IntegrityError(f"refused image index: more than {MAX_PLATFORMS} platform images")
    for child in images:  # one level: an index of indexes is no image a kubelet runs
        manifest = parse_manifest(repo.fetch_manifest(child.digest)[1])
        if isinstance(manifest, Manifest):
            yield from manifest.layers


def _members(repo: Storage, layer: Descriptor, limits: ArchiveLimits) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    """Each entry of a layer's tar, with the first bytes of a file whose name asks for a sniff."""
    parsed = mt.parse_layer_media_type(layer.media_type)
    packing = parsed[1] if parsed else _packing(layer.media_type)
    max_bytes, entries, unpacked = limits.max_bytes(layer.size), 0, 0
    with repo.open_blob(layer) as blob, _corrupt_stream_refused(layer):
        stream: Any = decompressing(blob, packing)
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo) as tar:
            for member in tar:
                entries, unpacked = entries + 1, unpacked + member.size
                if entries > limits.max_entries or unpacked > max_bytes:
                    raise IntegrityError(f"refused layer {layer.digest}: more than {limits.max_entries} entries or "
                                         f"{max_bytes} bytes unpacked")
                data = b""
                if member.isfile() and member.name.lower().endswith(SNIFFED_SUFFIXES):
                    reader = tar.extractfile(member)
                    data = reader.read(SNIFF_BYTES) if reader is not None else b""
                yield member, data
