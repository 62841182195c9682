"""`k8s --kind kserve`'s pickle check and what binds it to the layers the pod runs: a registry that serves one
tar to byte-range reads and another to a whole read (which the kubelet makes, and checks against the digest)
could show the check a layer without the pickle. A layer the local store holds is read from there, verified;
`--whole-layers` reads each layer whole and verifies it; else (a large uncompressed layer) the headers are read
by ranges and a warning says the check was not bound to the digests."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

import modelpack as mp
from helpers import modelpack
from hostile_registry import HostileRegistry, reply, serve_content
from images import GOOD_CONFIG
from modelpack.image.layer_entries import WHOLE_AT_MOST
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.store.options import ClientOptions
from test_kserve_modelcar_layers import MANIFEST, PICKLE, TAR, _kserve
from test_serve_trust import assert_one_line

PLAIN = ClientOptions(plain_http=True)


def _tar(pickle_name: str) -> bytes:
    """A modelcar layer larger than one read whole: weights, then a file named `pickle_name` holding a pickle."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("models/weights.safetensors", bytes(WHOLE_AT_MOST)), (pickle_name, PICKLE)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def two_faced() -> Iterator[tuple[HostileRegistry, str, list[str]]]:
    """A registry whose modelcar layer holds models/model.joblib (a pickle), but whose answers to range
    requests are cut from a tar of the same size naming it models/model.onnx: (server, image, requests seen)."""
    real, shown = _tar("models/model.joblib"), _tar("models/model.onnx")
    assert len(real) == len(shown)
    config = json.dumps(GOOD_CONFIG).encode()
    config_desc = Descriptor(mediaType="application/vnd.oci.image.config.v1+json", digest=digests.of_bytes(config),
                             size=len(config))
    layer = Descriptor(mediaType=TAR, digest=digests.of_bytes(real), size=len(real))
    manifest = Manifest(config=config_desc, layers=[layer]).canonical_bytes()
    content = {"1": (MANIFEST, manifest), digests.of_bytes(manifest): (MANIFEST, manifest),
               config_desc.digest: ("application/octet-stream", config)}
    seen: list[str] = []

    def blob(handler: BaseHTTPRequestHandler) -> None:
        asked = handler.headers.get("Range")
        seen.append(asked or "whole")
        if not asked:
            reply(handler, 200, real, {"Docker-Content-Digest": layer.digest})
            return
        first, _, last = asked.removeprefix("bytes=").partition("-")
        end = min(int(last) if last else len(shown) - 1, len(shown) - 1)
        reply(handler, 206, shown[int(first):end + 1], {"Content-Range": f"bytes {first}-{end}/{len(shown)}"})

    server = HostileRegistry({f"/v2/.*/blobs/{layer.digest}": blob, "/v2/.+/(manifests|blobs)/":
                              serve_content(content)})
    with server:
        yield server, f"{server.host}/car/x:1", seen


def test_a_check_by_ranges_says_it_is_not_bound_to_the_digests(two_faced: tuple[HostileRegistry, str, list[str]]
                                                                ) -> None:
    _, image, seen = two_faced
    run = _kserve(image)
    assert run.code == 0 and "kind: InferenceService" in run.out, run.err  # what the ranges showed: no pickle
    assert seen and "whole" not in seen  # (its headers only)
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {image}'s /models was checked for pickles by the tar "
                                                   "headers of 1 uncompressed layer(s)"), run.err
    assert "not bound to the layers' digests" in lines[0] and lines[0].endswith(
        "; --whole-layers downloads them whole and verifies them"), run.err


def test_whole_layers_reads_what_the_pod_would_run(two_faced: tuple[HostileRegistry, str, list[str]]) -> None:
    _, image, seen = two_faced
    run = _kserve(image, "--whole-layers")
    assert_one_line(run.err, 2, run.code, "model.joblib", "unpickle", "--trust-unverified-pickle")
    assert seen == ["whole"]


def test_a_layer_in_the_local_store_is_read_from_there(two_faced: tuple[HostileRegistry, str, list[str]]) -> None:
    _, image, seen = two_faced
    mp.copy_model(image, image, to_local=True, options=PLAIN)  # (a whole read: the digest verified)
    seen.clear()
    run = _kserve(image)
    assert_one_line(run.err, 2, run.code, "model.joblib", "unpickle")
    assert seen == []  # not asked for the layer: the store's copy was read


def test_whole_layers_applies_to_kserve_only() -> None:
    run = modelpack("k8s", "--kind", "deployment", "--whole-layers", "127.0.0.1:1/team/x:1")
    assert_one_line(run.err, 2, run.code, "--whole-layers applies to --kind kserve only")
