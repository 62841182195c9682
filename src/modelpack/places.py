"""Where a model is: a registry (or local store) reference, or an OCI image layout directory.

`oci:DIR[:TAG|@DIGEST]` is the containers/skopeo transport name: the directory is readable and
writable by `skopeo oci:DIR:TAG`, `oras --oci-layout DIR:TAG` and oras-go. As in containers/image,
the path ends at the first `:` after `oci:` (a path cannot hold one) and `@` starts a digest.
Every verb that takes a reference takes a place: the existing `--remote`, `--from-local` and
`--to-local` choose between the registry and the local store for a registry reference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.advice import Wording, compose
from modelpack.errors import NotFoundError, UsageError
from modelpack.oci import digest as digests
from modelpack.oci.reference import Reference, is_tag

if TYPE_CHECKING:
    from modelpack.oci.descriptor import Descriptor
    from modelpack.store.layout import LayoutStore
    from modelpack.store.oci_layout import OciLayout
    from modelpack.store.options import ClientOptions
    from modelpack.store.target import Storage

OCI_PREFIX = "oci:"


@dataclass(frozen=True)
class LayoutReference:
    """`oci:DIR[:TAG|@DIGEST]`: a manifest in an OCI image layout directory."""

    path: Path
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> LayoutReference:
        """Raises UsageError for an empty path, an invalid digest or tag."""
        rest = text[len(OCI_PREFIX):]
        if rest.startswith("//"):  # KServe's storageUri form (what `k8s --kind kserve` writes), not a layout
            raise UsageError(f"{text!r}: oci:// is KServe's storageUri form; name a registry as "
                             "HOST/REPOSITORY:TAG (no scheme), an OCI layout directory as oci:DIR[:TAG]")
        digest = None
        if "@" in rest:
            rest, digest = rest.rsplit("@", 1)
            if not digests.is_digest(digest):
                raise UsageError(f"{text!r}: {digest!r} is not a digest (sha256:<64 hex digits>)")
        path, _, tag = rest.partition(":")
        if not path:
            raise UsageError(f"{text!r} names no directory: write oci:DIR[:TAG|@DIGEST]")
        if tag and not is_tag(tag):
            raise UsageError(f"{text!r}: {tag!r} is not a valid tag")
        return cls(Path(path), tag or None, digest)

    @property
    def version(self) -> str | None:
        return self.digest or self.tag

    @property
    def name(self) -> str:
        return self.path.resolve().name or "model"

    def with_digest(self, digest: str) -> LayoutReference:
        return replace(self, tag=None, digest=digest)

    def __str__(self) -> str:
        return f"{OCI_PREFIX}{self.path}" + (f":{self.tag}" if self.tag else "") + \
            (f"@{self.digest}" if self.digest else "")


Place = Reference | LayoutReference


def is_layout(text: object) -> bool:
    return isinstance(text, LayoutReference) or (isinstance(text, str) and text.startswith(OCI_PREFIX))


def parse_place(text: str | Place) -> Place:
    if isinstance(text, Reference | LayoutReference):
        return text
    return LayoutReference.parse(text) if is_layout(text) else Reference.parse(text)


def open_layout(place: LayoutReference, *, create: bool = False) -> OciLayout:
    """The layout a place names.

    Raises:
        NotFoundError: reading a directory that is no OCI image layout.
        UsageError: writing where a file is (or below one), or into a folder of other files.
        OSError: writing on a virtual filesystem (/proc), where no folder can be made.
    """
    from modelpack.store.oci_layout import OciLayout

    if place.path.exists() and not place.path.is_dir():
        raise UsageError(f"{place.path} is not a directory, so not an OCI image layout")
    if create and not place.path.exists():  # said now, not once a registry was asked for what goes there
        from modelpack.output_folder import refuse_uncreatable

        refuse_uncreatable(place.path)
    layout = OciLayout(place.path)
    if not layout.exists():
        if not create:
            raise NotFoundError(f"{place.path} is not an OCI image layout (it has no oci-layout file)")
        refuse_foreign_folder(place.path)
    return layout


# What a layout folder holds (the image-layout spec's names, and the folder blobs are received in): a folder
# holding only these is a layout in the making (a write stopped before its oci-layout file), not another's.
_LAYOUT_NAMES = frozenset({"oci-layout", "index.json", "blobs", "ingest"})


def refuse_foreign_folder(path: Path) -> None:
    """Refuse writing a layout into an existing folder of other files (a model's folder, a home directory),
    where blobs/, index.json and oci-layout would be added beside them. An empty folder is written to.

    Raises:
        UsageError: the folder holds a file or folder no layout has.
    """
    try:
        with os.scandir(path) as entries:
            foreign = min((entry.name for entry in entries if entry.name not in _LAYOUT_NAMES), default=None)
    except FileNotFoundError:
        return  # (made when written to)
    if foreign is not None:
        raise UsageError(f"{path} is not an OCI image layout and holds other files ({foreign!r}): name an empty "
                         "or new folder, or an existing layout")


def open_place(place: Place, *, options: ClientOptions | None = None, store: LayoutStore | None = None,
               local: bool = False, create: bool = False, mirrors: bool = False,
               local_flag: Wording | None = None) -> tuple[Storage, str | None]:
    """The storage a place names and the version (tag or digest) it names there.

    Args:
        place: a registry reference or an `oci:` layout.
        options: how to reach a registry.
        store: the local store, for a registry reference with `local`.
        local: a registry reference names a model in the local store, not the registry.
        create: the place is written to (a layout directory is made if need be).
        mirrors: the place is only read: a registry reference is read through its registries.conf mirrors.
        local_flag: how the caller reads the local store instead (`--local`): said when a name with no
            registry, which only the store can hold, is in it.

    Returns:
        (storage, version): version is None for a layout named without tag or digest that is written to.

    Raises:
        UsageError: a name with no registry, not `local`, that the local store holds (with `local_flag`).
        InvalidReferenceError: any other name with no registry, not `local`.
    """
    if isinstance(place, LayoutReference):
        layout = open_layout(place, create=create)
        return layout, place.version or (None if create else layout.default_version())
    if local:
        from modelpack.store.layout import LayoutStore

        return (store or LayoutStore()).repository(place.name), place.version
    from modelpack.api.core import remote

    if local_flag is not None and not place.registry:
        from modelpack.store.layout import LayoutStore

        if (store or LayoutStore()).find(place) is not None:
            # `sbom iris:1.0` of a model packed as iris:1.0: "names no registry" left out that the store has it.
            raise UsageError(f"{place.written} names no registry; it is a model of the local store",
                             advice=compose("{} to read it there", local_flag))
    return remote(place, options, mirrors=mirrors), place.version


def resolve_place(place: Place, storage: Storage, version: str | None) -> Descriptor:
    """What `version` names in `storage` (opened by `open_place`); a tag the registry does not have is named
    with its nearest (`did you mean 1.0.0?`), as every command reading a model says it.

    Raises:
        NotFoundError: no such tag or digest there.
    """
    from modelpack.store.nearest_tag import naming_nearest_tag

    with naming_nearest_tag(storage, place):
        return storage.resolve(version or "")
