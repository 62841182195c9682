"""`k8s --kind kserve MODELCAR` of a modelcar modelpack did not build (or one a registry changed): the runtime
KServe picks loads what the image's /models holds, so the image is asked what `build-image --modelcar` asks of
a model (a file a runtime unpickles is refused unless --verify-key verified the image's signature, the
signature policy did, or --trust-unverified-pickle is given), read from its own layers. And the image's
`io.modelpack.model.reference` (the registry's to write) is followed to its own registry only.

Before: a third-party modelcar holding model.joblib was written as an InferenceService (exit 0), and a
reference naming another host was fetched from that host."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import modelpack
from images import GOOD_CONFIG, LAYER, PLAIN
from modelpack.image.kinds import A_MODEL_REFERENCE
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from registry_process import Registry
from test_image_refusals import push_model
from test_serve_trust import assert_one_line, keypair, sign

pytestmark = pytest.mark.interop
PICKLE = b"cos\nsystem\n(S'true'\ntR."  # os.system('true') when unpickled (never done here)


def _tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def push_modelcar(ref: str, files: dict[str, bytes], links: dict[str, str] | None = None,
                  annotations: dict[str, str] | None = None) -> str:
    """A modelcar as anyone builds one (`FROM busybox`, `COPY model/ /models/`): a base layer and a gzip
    layer of /models; its reference pinned by digest."""
    tar = _tar(files, links)
    layer = gzip.compress(tar, mtime=0)
    config = json.dumps({**GOOD_CONFIG, "rootfs": {"type": "layers", "diff_ids": [
        digests.of_bytes(LAYER), digests.of_bytes(tar)]}}).encode()
    target = mp.remote(mp.Reference.parse(ref), PLAIN)
    descs = [Descriptor(mediaType="application/vnd.oci.image.layer.v1.tar", digest=digests.of_bytes(LAYER),
                        size=len(LAYER)),
             Descriptor(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", digest=digests.of_bytes(layer),
                        size=len(layer))]
    config_desc = Descriptor(mediaType="application/vnd.oci.image.config.v1+json", digest=digests.of_bytes(config),
                             size=len(config))
    for desc, blob in ((descs[0], LAYER), (descs[1], layer), (config_desc, config)):
        target.push_blob(desc, lambda blob=blob: io.BytesIO(blob))
    manifest = Manifest(config=config_desc, layers=descs, annotations=annotations or None).canonical_bytes()
    desc = Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json", digest=digests.of_bytes(manifest),
                      size=len(manifest))
    target.put_manifest(desc, manifest, mp.Reference.parse(ref).tag)
    return ref.rsplit(":", 1)[0] + "@" + desc.digest


def _kserve(image: str, *extra: str) -> Any:
    return modelpack("k8s", "--plain-http", "--kind", "kserve", image, "--model-format", "sklearn", *extra)


@pytest.mark.parametrize(("files", "links", "named"), [
    ({"models/model.joblib": PICKLE}, None, "model.joblib"),
    ({"./models/sub/pytorch_model.bin": PICKLE, "models/config.json": b"{}"}, None, "sub/pytorch_model.bin"),
    # /models a link to a folder of the image: the runtime reads what the link leads to
    ({"data/model.pkl": PICKLE}, {"models": "/data"}, "/models (a link)"),
])
def test_a_third_party_modelcar_holding_a_pickle_is_refused(registry: Registry, files: dict[str, bytes],
                                                            links: dict[str, str] | None, named: str) -> None:
    tagged = registry.repo("car") + ":1"
    push_modelcar(tagged, files, links)
    refused = _kserve(tagged)
    assert_one_line(refused.err, 2, refused.code, f"InferenceService of {tagged}", named, "unpickle",
                    "--verify-key", "--trust-unverified-pickle")
    assert refused.out == ""
    trusted = _kserve(tagged, "--trust-unverified-pickle")
    assert trusted.code == 0 and "kind: InferenceService" in trusted.out, trusted.err


def test_a_modelcar_without_pickles_is_written(registry: Registry) -> None:
    tagged = registry.repo("car") + ":1"
    pinned = push_modelcar(tagged, {"models/model.onnx": b"\x08\x07", "models/raw.bin": b"\x00" * 64,
                                    "usr/lib/python3/lib2to3/Grammar.pickle": PICKLE})  # outside /models
    run = _kserve(tagged)
    assert run.code == 0, run.err
    assert f"storageUri: oci://{pinned}" in run.out


def test_a_modelcar_whose_signature_verifies_is_written(registry: Registry, tmp_path: Path) -> None:
    tagged = registry.repo("car") + ":1"
    push_modelcar(tagged, {"models/model.joblib": PICKLE})
    ours, ours_public = keypair(tmp_path, "ours")
    _, other_public = keypair(tmp_path, "other")
    sign(tagged, ours)
    verified = _kserve(tagged, "--verify-key", str(ours_public))
    assert verified.code == 0 and "kind: InferenceService" in verified.out, verified.err
    wrong = _kserve(tagged, "--verify-key", str(other_public))
    assert_one_line(wrong.err, 7, wrong.code, "no valid signature")
    assert wrong.out == ""


def test_an_unsigned_modelcar_says_the_image_itself_is_checked(registry: Registry, tmp_path: Path) -> None:
    """A newcomer signs the model, builds the modelcar and passes --verify-key to k8s: the refusal said
    "no signatures found" of a digest they did not know; it names the image and how to sign it."""
    tagged = registry.repo("car") + ":1"
    push_modelcar(tagged, {"models/model.joblib": PICKLE})
    _, public = keypair(tmp_path, "ours")
    run = _kserve(tagged, "--verify-key", str(public))
    assert_one_line(run.err, 7, run.code, "no signatures found", "the modelcar image itself is checked",
                    f"`modelpack sign {tagged} --key KEY` signs it", "build-image --verify-key")
    assert run.out == ""


def test_the_recorded_model_is_not_fetched_from_another_host(registry: Registry, tmp_path: Path,
                                                              fresh_registry: Callable[..., Registry]) -> None:
    """The annotation names a model on another registry (any host a registry chooses): not contacted; the
    user is told to name the format, and with it the YAML is written."""
    elsewhere = fresh_registry()
    with FaultProxy(elsewhere.host) as other:
        model = push_model(registry, tmp_path, "name: iris\nframework: scikit-learn\n")
        pinned_model = mp.resolve(mp.Reference.parse(model), options=PLAIN).digest
        foreign = f"{other.host}/team/iris@{pinned_model}"
        mp.copy_model(model, foreign, options=PLAIN)  # the model is there too: only asking could tell
        other.clear()
        tagged = registry.repo("car") + ":1"
        push_modelcar(tagged, {"models/model.onnx": b"\x08\x07"}, annotations={A_MODEL_REFERENCE: foreign})
        refused = modelpack("k8s", "--plain-http", "--kind", "kserve", tagged)
        assert_one_line(refused.err, 2, refused.code, other.host, "--model-format")
        assert refused.out == ""
        given = _kserve(tagged)
        assert given.code == 0 and "modelFormat" in given.out, given.err
        assert other.requests() == []  # neither run asked the other host anything
        # The image's own registry is asked, as before.
        same = f"{registry.host}/{model.split('/', 1)[1].rsplit(':', 1)[0]}@{pinned_model}"
        push_modelcar(tagged, {"models/model.onnx": b"\x08\x07"}, annotations={A_MODEL_REFERENCE: same})
        read = modelpack("k8s", "--plain-http", "--kind", "kserve", tagged)
        assert read.code == 2 and "KServe's sklearn runtimes load only" in read.err, read.err
