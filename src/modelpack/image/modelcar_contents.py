"""What a modelcar image's /models holds, read from its own layers: the files KServe's runtime would load
from /mnt/models, whoever built the image (its annotations are the registry's to write, so only the
layers say what the pod mounts).

The layers are stacked as the container runtime stacks them (OCI image spec, "Whiteouts"): a later layer's
file replaces an earlier one's, its `.wh.NAME` deletes NAME (and all under it) from the layers below, and
its `.wh..wh..opq` empties that directory of what the layers below put there (but for the root's, which
overlayfs ignores). Each layer is read once (see `layer_entries` for what that costs), then stacked for
each platform image that lists it.
"""

from __future__ import annotations

import logging
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from modelpack.advice import WHOLE_LAYERS, compose, setting
from modelpack.archives import ArchiveLimits
from modelpack.errors import IntegrityError, UntrustedContentError
from modelpack.image.layer_entries import CostlyLayer, LayerReading, LocalBlobs, layer_entries
from modelpack.image.mlserver_settings import is_settings
from modelpack.image.modelcar import SNIFF_BYTES, SNIFFED_SUFFIXES, refuse_unverified_pickles
from modelpack.image.root_path import Ways, landings
from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.space import size_text
from modelpack.store.blob_file import Requests
from modelpack.store.target import Storage

ROOT = "models"  # KServe links the modelcar's /models to /mnt/models
MAX_LAYERS = 512  # every platform's together (overlayfs stacks at most 128 per image)
MAX_PLATFORMS = 32  # the images (and indexes) an index leads to
MAX_NESTING = 4  # indexes within indexes (none a build tool writes)
MAX_REQUESTS = 8192  # range requests for the headers of all its layers: about as many files over 16 KiB
# The paths the layers' changes keep until they are stacked (a base image's files outside /models too, for the
# links that may lead there): a large image's hundreds of thousands take a few tens of MiB.
MAX_KEPT_PATH_BYTES = 256 * 1024 * 1024
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"


@dataclass
class ModelcarFiles:
    """The files under /models, as `modelcar.unpickled_files` reads them.

    Attributes:
        files: each path (relative to /models) and a file holding its first bytes (a `.bin` one's or a
            model-settings.json's first SNIFF_BYTES; empty for the others, whose name is what a runtime goes by).
        sizes: each path's whole size.
        links: paths (absolute, e.g. `/models`) of links at or under /models: what they lead to is
            another layer's to say, so they are named, not followed; and of files written under /models
            through a link elsewhere (named where they land and as written).
    """

    files: dict[str, Path] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    ranged: list[Descriptor] = field(default_factory=list)  # layers read by ranges: not bound to their digests


@dataclass(frozen=True)
class _Entry:
    """A file or link at or under /models in one layer (a link: `head` None)."""

    head: Path | None
    size: int


@dataclass
class _Changes:
    """What one layer does at or under /models: paths it deletes from the layers below (whiteouts),
    directories it empties of theirs (opaque), and the entries it adds, in its tar's order (None: a
    directory, which replaces a file below but keeps what the layers below put under it)."""

    deleted: list[str] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)
    added: list[tuple[str, _Entry | None]] = field(default_factory=list)
    symlinks: list[tuple[str, str]] = field(default_factory=list)  # the layer's symbolic links and targets, in order
    elsewhere: list[str] = field(default_factory=list)  # its files and links outside /models, as named


def modelcar_files(repo: Storage, node: Manifest | Index, folder: Path, limits: ArchiveLimits | None = None,
                   *, whole: bool = False, local: LocalBlobs | None = None) -> ModelcarFiles:
    """The files under /models in the final filesystem of the image (of an index: of each platform's
    image, together).

    Args:
        repo: the image's repository.
        node: the image's manifest or index.
        folder: where the heads of `.bin` files are written.
        limits: entry count and size caps per layer (default: from the environment).
        whole: read every layer whole, verified against its digest (see `LayerReading`).
        local: the local store: a layer it holds is read from it, verified.

    Returns:
        The files and links found, and the layers read by ranges.

    Raises:
        CostlyLayer: a layer could be read only by downloading it whole (see `layer_entries`).
        IntegrityError: a layer is not a readable tar, crosses a limit, or the image has too many layers or
            platforms.
    """
    limits = limits or ArchiveLimits.from_env()
    reading = LayerReading(Requests(MAX_REQUESTS), whole, local)
    read: dict[str, _Changes] = {}
    kept = _Kept()
    found = ModelcarFiles()
    for layers in _images(repo, node):
        tree = _Tree()
        for layer in layers:
            if layer.digest not in read:
                if len(read) >= MAX_LAYERS:
                    raise IntegrityError(f"refused image: more than {MAX_LAYERS} layers")
                read[layer.digest] = _read_layer(repo, layer, limits, reading, folder / f"{len(read)}-", kept)
            tree.stack(read[layer.digest])
        found.links += _through_links([read[layer.digest] for layer in layers])
        for path, entry in tree.entries.items():
            if entry.head is None:
                found.links.append("/" + path)
            elif path != ROOT:
                relative = path[len(ROOT) + 1:]
                found.files[relative], found.sizes[relative] = entry.head, entry.size
    found.links = sorted(set(found.links))
    found.ranged = reading.ranged
    return found


def refuse_unverified_modelcar(repo: Storage, node: Manifest | Index, image: str, *, whole: bool = False,
                               local: LocalBlobs | None = None) -> None:
    """Refuse a modelcar whose /models holds a file a KServe runtime unpickles (or a link, which may lead
    to one), as `build-image --modelcar` refuses such a model: for when no signature vouches for it.

    Args:
        repo: the image's repository.
        node: the image's manifest or index.
        image: the image's reference, for the message.
        whole: read every layer whole, verified against its digest (default: a large uncompressed one by
            its tar headers, through byte ranges; see `layer_entries`).
        local: the local store, whose verified copy of a layer is read instead of the registry's.

    A layer read by ranges is named in a warning: what the check saw of it is not bound to its digest.

    Raises:
        UntrustedContentError: such a file or link is there, or a layer could be checked only by
            downloading it whole (exit 2).
        IntegrityError: a layer cannot be read (see `modelcar_files`).
    """
    doing = f"write an InferenceService of {image}"
    with tempfile.TemporaryDirectory(prefix="modelpack-modelcar-") as folder:
        try:
            found = modelcar_files(repo, node, Path(folder), whole=whole, local=local)
        except CostlyLayer as exc:
            raise UntrustedContentError(
                f"refusing to {doing}: to check its /models for pickles, {exc}", advice=compose(
                    "pass {} to verify it, {} to download its layers whole and check them, or {} to write it "
                    "anyway", setting("verify_key=KEY", "--verify-key KEY"), WHOLE_LAYERS,
                    setting("trust_unverified_pickle=True", "--trust-unverified-pickle"))) from None
        refuse_unverified_pickles(found.files, image, found.sizes, links=found.links, doing=doing)
    if found.ranged:  # (the pod pulls each layer whole and checks its digest; these bytes were not)
        logging.getLogger("modelpack.deploy").warning(compose(
            f"{image}'s /models was checked for pickles by the tar headers of {len(found.ranged)} uncompressed "
            f"layer(s) ({size_text(sum(layer.size for layer in found.ranged))}), read by HTTP ranges: not bound to "
            "the layers' digests, so a registry could serve a pod other bytes; {} downloads them whole and "
            "verifies them", WHOLE_LAYERS))


def _under_root(path: str) -> bool:
    return path == ROOT or path.startswith(ROOT + "/")


class _Kept:
    """The bytes of the paths the image's layers' changes keep, refused past MAX_KEPT_PATH_BYTES."""

    def __init__(self) -> None:
        self.total = 0

    def take(self, name: str, member: tarfile.TarInfo) -> None:
        self.total += len(name) + len(member.linkname)
        if self.total > MAX_KEPT_PATH_BYTES:
            raise IntegrityError(f"refused image: its layers name more than {size_text(MAX_KEPT_PATH_BYTES)} of "
                                 "paths")


def _read_layer(repo: Storage, layer: Descriptor, limits: ArchiveLimits, reading: LayerReading,
                heads: Path, kept: _Kept) -> _Changes:
    """The layer's changes at or under /models; the heads of its `.bin` and model-settings.json files saved as
    `heads`N.head."""

    def wants_head(name: str, member: tarfile.TarInfo) -> bool:  # (a longer model-settings.json counts, unread)
        return _under_root(name) and (name.lower().endswith(SNIFFED_SUFFIXES) or is_settings(name))

    changes = _Changes()
    for name, member, head in layer_entries(repo, layer, limits, reading, wants_head, SNIFF_BYTES):
        kept.take(name, member)  # (a path each entry keeps at most, and a link's target)
        parent, _, base = name.rpartition("/")
        if base == _OPAQUE:
            # (one at the layer's root is left out: overlayfs applies no opaque attribute to its root, so
            # Docker and containerd's overlayfs snapshotter keep what the layers below put there)
            if _under_root(parent):
                changes.emptied.append(parent)
        elif base.startswith(_WHITEOUT):
            deleted = f"{parent}/{base[len(_WHITEOUT):]}".lstrip("/")
            if _under_root(deleted):
                changes.deleted.append(deleted)
        elif not _under_root(name):
            if member.issym():
                changes.symlinks.append((name, member.linkname))
            if not member.isdir():
                changes.elsewhere.append(name)
            continue
        elif member.isdir():
            changes.added.append((name, None))
        elif member.issym() or member.islnk():
            if member.issym():
                changes.symlinks.append((name, member.linkname))
            changes.added.append((name, _Entry(None, 0)))
        elif member.isfile():
            saved = heads.with_name(f"{heads.name}{len(changes.added)}.head")
            saved.write_bytes(head)
            changes.added.append((name, _Entry(saved, member.size)))
    return changes


def _through_links(layers: list[_Changes]) -> list[str]:
    """The files and links the layers name outside /models that a runtime writes under it, through a link
    among their parent folders (see root_path): every link of the image counts, whichever layer made it or
    removed it, with every target it was given (what is kept is found as it is otherwise; this errs toward
    refusing), at each place it may have been written to (`a/data` below `a -> /b` is the link /b/data)
    as well as by its name."""
    links: dict[str, set[str]] = {}
    ways = Ways()
    for changes in layers:  # in the order the runtime makes them: a link is placed through those before it
        for path, target in changes.symlinks:
            for place in {path, *(landings(path, links, ways) or ())}:  # (as named too: errs toward refusing)
                links.setdefault(place, set()).add(target)
    if not links:
        return []
    found = []
    for changes in layers:
        for path in changes.elsewhere:
            landed = landings(path, links, ways)
            for place in sorted({path} if landed is None else landed):
                if landed is None or _under_root(place):
                    found.append(f"/{place} (written as /{path})")
    return found


class _Tree:
    """The entries the layers stacked so far leave at or under /models: each removed subtree costs what
    it holds (directories are known by the entries under them)."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self._kids: dict[str, set[str]] = {}  # a directory's children that hold entries

    def stack(self, changes: _Changes) -> None:
        """Put one layer's changes on the layers below it (overlayfs's rules)."""
        for path in changes.deleted:
            self._remove(path, itself=True)
        for path in changes.emptied:
            self._remove(path, itself=False)
        for path, entry in changes.added:
            self.entries.pop(path, None)  # a directory replaces a file (or link) there too
            if entry is not None:
                self._remove(path, itself=False)  # a file or link hides a directory's contents below
                self.entries[path] = entry
                self._link(path)

    def _link(self, path: str) -> None:
        child = path
        while child:
            parent = child.rpartition("/")[0]
            known = parent in self._kids
            self._kids.setdefault(parent, set()).add(child)
            if known:  # its own parents know it already
                return
            child = parent

    def _remove(self, path: str, *, itself: bool) -> None:
        if itself:
            self.entries.pop(path, None)
            self._kids.get(path.rpartition("/")[0], set()).discard(path)
        below = list(self._kids.pop(path, ()))
        while below:
            name = below.pop()
            self.entries.pop(name, None)
            below.extend(self._kids.pop(name, ()))


def _images(repo: Storage, node: Manifest | Index) -> Iterator[list[Descriptor]]:
    """Each platform image's layers, bottom first. An index within an index is walked too: containerd
    follows one to the image it runs (images.Manifest), so its layers are checked as a direct child's."""
    if isinstance(node, Manifest):
        yield list(node.layers)
        return
    pending, seen = [(node, 1)], set()
    while pending:
        index, depth = pending.pop(0)
        for child in index.manifests:
            if (child.platform is not None and child.platform.os == "unknown") or child.digest in seen:
                continue
            seen.add(child.digest)
            if len(seen) > MAX_PLATFORMS:
                raise IntegrityError(f"refused image index: more than {MAX_PLATFORMS} platform images")
            manifest = parse_manifest(repo.fetch_manifest(child.digest)[1])
            if isinstance(manifest, Manifest):
                yield list(manifest.layers)
            elif depth >= MAX_NESTING:
                raise IntegrityError(f"refused image index: indexes nested more than {MAX_NESTING} deep")
            else:
                pending.append((manifest, depth + 1))
