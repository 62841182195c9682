"""`k8s --kind kserve` checks the platform images of an index within an index: containerd follows a child
index to the image for its platform, so a pickle there is what the pod mounts.

Before: the check read one level of children only; an index whose amd64 child was another index (holding
a pickle) passed, exit 0, with a clean arm64 image beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from images import PLAIN
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Index, Platform
from registry_process import Registry
from test_kserve_modelcar_layers import PICKLE, TAR, push_image, tar_file
from test_serve_trust import assert_one_line

pytestmark = pytest.mark.interop
INDEX = "application/vnd.oci.image.index.v1+json"


def _put_index(repo: str, children: list[Descriptor], tag: str | None = None) -> Descriptor:
    body = Index(manifests=children).canonical_bytes()
    desc = Descriptor(mediaType=INDEX, digest=digests.of_bytes(body), size=len(body))
    mp.remote(mp.Reference.parse(repo + ":x"), PLAIN).put_manifest(desc, body, tag)
    return desc


def _for(desc: Descriptor, arch: str) -> Descriptor:
    return desc.replace(platform=Platform(architecture=arch, os="linux"))


def test_a_pickle_in_an_index_within_the_index_is_refused(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo("car")
    source = mp.remote(mp.Reference.parse(repo + ":x"), PLAIN)
    clean = push_image(repo + ":clean", [(TAR, tar_file(tmp_path / "a.tar", {"models/README.txt": b"x"}))])
    bad = push_image(repo + ":bad", [(TAR, tar_file(tmp_path / "b.tar", {"models/model.pkl": PICKLE}))])
    inner = _put_index(repo, [_for(source.resolve(bad.split("@")[1]), "amd64")])
    _put_index(repo, [_for(source.resolve(clean.split("@")[1]), "arm64"), _for(inner, "amd64")], "multi")
    run = modelpack("k8s", "--plain-http", "--kind", "kserve", repo + ":multi", "--model-format", "sklearn")
    assert_one_line(run.err, 2, run.code, "model.pkl", "unpickle", "--trust-unverified-pickle")
    assert run.out == ""
