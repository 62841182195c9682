"""`build-image` refuses, as `pull -o` does, a model whose layers write one path twice (also as `w.bin`
and `./w.bin`) or make a file another's folder. The image's tar layers hold both files and the higher layer
wins (a file of 64 MiB or more gets a layer of its own, above the small files'), while the checks read the
path once: a torch.save zip at `pytorch_model.bin` over 64 MiB, listed before a small file of zeros at that
path, passed the modelcar's pickle check (it read the zeros) and was the file the image held."""

from __future__ import annotations

import io

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_image import push_base
from test_image_refusals import tags

PLAIN = ClientOptions(plain_http=True)
RAW = "application/vnd.cncf.model.weight.v1.raw"
CONFIG = b'{"descriptor":{"name":"m"},"config":{},"modelfs":{"type":"layers","diffIds":[]}}'


def push_files(ref: str, files: list[tuple[str, bytes]], titles: dict[str, str] | None = None) -> None:
    """A model whose layers are these (path, bytes), in this order, however they clash; `titles` gives a
    path's layer an `org.opencontainers.image.title` (what oras and CRI-O name the file by)."""
    target = mp.remote(mp.Reference.parse(ref), PLAIN)
    layers = [Descriptor(mediaType=RAW, digest=digests.of_bytes(data), size=len(data),
                         annotations={"org.cncf.model.filepath": path,
                                      **({"org.opencontainers.image.title": titles[path]} if path in (titles or {})
                                         else {})}) for path, data in files]
    config = Descriptor(mediaType="application/vnd.cncf.model.config.v1+json", digest=digests.of_bytes(CONFIG),
                        size=len(CONFIG))
    for desc, data in [*zip(layers, (data for _, data in files), strict=True), (config, CONFIG)]:
        target.push_blob(desc, lambda data=data: io.BytesIO(data))
    manifest = Manifest(config=config, layers=layers, artifactType="application/vnd.cncf.model.manifest.v1+json")
    data = manifest.canonical_bytes()
    target.put_manifest(Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json",
                                   digest=digests.of_bytes(data), size=len(data)), data, "1")


@pytest.mark.parametrize(("files", "named"), [
    ([("pytorch_model.bin", b"PK\x03\x04" + b"\0" * 600), ("pytorch_model.bin", b"\0" * 600)],
     "two layers write 'pytorch_model.bin'"),
    ([("w.bin", b"\0" * 600), ("./w.bin", b"\1" * 600)], "two layers write 'w.bin'"),
    ([("a", b"\0" * 600), ("a/b.bin", b"\1" * 600)], "'a' is a file in this artifact"),
])
@pytest.mark.parametrize("trust", [(), ("--trust-unverified-pickle",)])
def test_layers_that_clash_on_a_path_are_refused(registry: Registry, files: list[tuple[str, bytes]], named: str,
                                                 trust: tuple[str, ...]) -> None:
    model = registry.repo("model") + ":1"
    push_files(model, files)
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    image = registry.repo("car") + ":1"
    built = modelpack("build-image", "--plain-http", "--modelcar", model, "-t", image, "--base", base, *trust)
    assert built.code == 6, built.err
    assert built.err.count("\n") == 1 and named in built.err and "internal error" not in built.err, built.err
    assert tags(image) == []
