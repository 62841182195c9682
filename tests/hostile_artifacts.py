"""Hand-made ModelPack artifacts for the hostile-unpacking tests: raw and tar layers with any path or entry."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable

import modelpack as mp
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.store.options import ClientOptions

PLAIN = ClientOptions(plain_http=True)
RAW = "application/vnd.cncf.model.weight.v1.raw"
TAR = "application/vnd.cncf.model.weight.v1.tar"


def publish(ref: str, layers: list[tuple[Descriptor, bytes]]) -> None:
    """Push a hand-made ModelPack manifest with the given layers (descriptor, bytes)."""
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    config = b'{"descriptor":{"name":"evil"},"config":{},"modelfs":{"type":"layers","diffIds":[]}}'
    config_desc = Descriptor(mediaType="application/vnd.cncf.model.config.v1+json", digest=digests.of_bytes(config),
                             size=len(config))
    for desc, data in [(config_desc, config), *layers]:
        repo.push_blob(desc.replace(size=len(data)), lambda data=data: io.BytesIO(data))
    manifest = Manifest(artifactType="application/vnd.cncf.model.manifest.v1+json", config=config_desc,
                        layers=[d for d, _ in layers]).canonical_bytes()
    repo.put_manifest(Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json",
                                 digest=digests.of_bytes(manifest), size=len(manifest)),
                      manifest, mp.Reference.parse(ref).tag)


def raw(path: str, data: bytes = b"evil") -> tuple[Descriptor, bytes]:
    """A raw file layer restoring to `path`."""
    return Descriptor(mediaType=RAW, digest=digests.of_bytes(data), size=len(data),
                      annotations={"org.cncf.model.filepath": path}), data


def tar_layer(build: Callable[[tarfile.TarFile], object], path: str = "folder",
              tar_format: int = tarfile.PAX_FORMAT) -> tuple[Descriptor, bytes]:
    """A tar layer (annotated with `path`) whose entries `build` adds."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as tar:
        build(tar)
    data = buffer.getvalue()
    return Descriptor(mediaType=TAR, digest=digests.of_bytes(data), size=len(data),
                      annotations={"org.cncf.model.filepath": path}), data


def add(tar: tarfile.TarFile, name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE,
        link: str = "", pax: dict[str, str] | None = None) -> None:
    """Add one entry of any kind (a link's target in `link`; extra pax header fields in `pax`)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.pax_headers = pax or {}
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
