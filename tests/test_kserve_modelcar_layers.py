"""How `k8s --kind kserve MODELCAR` reads a modelcar's layers for what its /models holds: an uncompressed
layer by its tar headers alone (HTTP Range requests, each member's data skipped), so a large model costs
kilobytes, not its size; the layers stacked as a container runtime stacks them (a whiteout deletes what a
layer below put there, a later layer's pickle counts); and a registry that ignores ranges, answers them
short, or serves a tar whose headers loop neither makes the check download the layer nor hang it.

Before: every layer was streamed whole (a 48 MiB layer cost 48 MiB), a pickle a later layer deleted was
still refused; on main, no layer was read at all (exit 0 with a pickle in /models)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import modelpack
from hostile_registry import HostileRegistry, reply, serve_content
from images import GOOD_CONFIG, PLAIN
from modelpack.errors import UntrustedContentError
from modelpack.image.layer_entries import WHOLE_AT_MOST
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from registry_process import Registry
from test_serve_trust import assert_one_line

pytestmark = pytest.mark.interop
MIB = 1024 * 1024
PICKLE = b"cos\nsystem\n(S'true'\ntR."  # os.system('true') when unpickled (never done here)
TAR = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class _Zeros(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        target[:] = bytes(len(target))
        return len(target)


def tar_file(path: Path, files: dict[str, bytes | int]) -> Path:
    """A tar at `path` of `files` (name -> bytes, or a size of zeros, written without holding them)."""
    with tarfile.open(path, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = data if isinstance(data, int) else len(data)
            tar.addfile(info, io.BufferedReader(_Zeros()) if isinstance(data, int) else io.BytesIO(data))
    return path


def push_image(ref: str, layers: list[tuple[str, Path]]) -> str:
    """An image of `layers` (media type, tar file; a `+gzip` one is compressed here), bottom first; its
    reference pinned by digest."""
    target = mp.remote(mp.Reference.parse(ref), PLAIN)
    descs, diff_ids = [], []
    for media_type, tar in layers:
        diff_ids.append(digests.of_file(tar)[0])
        if media_type.endswith("+gzip"):
            tar = tar.with_suffix(".tgz")
            tar.write_bytes(gzip.compress(tar.with_suffix(".tar").read_bytes(), mtime=0))
        digest, size = digests.of_file(tar)
        desc = Descriptor(mediaType=media_type, digest=digest, size=size)
        target.push_blob(desc, lambda tar=tar: tar.open("rb"))
        descs.append(desc)
    config = json.dumps({**GOOD_CONFIG, "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_desc = Descriptor(mediaType="application/vnd.oci.image.config.v1+json", digest=digests.of_bytes(config),
                             size=len(config))
    target.push_blob(config_desc, lambda: io.BytesIO(config))
    manifest = Manifest(config=config_desc, layers=descs).canonical_bytes()
    desc = Descriptor(mediaType=MANIFEST, digest=digests.of_bytes(manifest), size=len(manifest))
    target.put_manifest(desc, manifest, mp.Reference.parse(ref).tag)
    return ref.rsplit(":", 1)[0] + "@" + desc.digest


def _kserve(image: str, *extra: str) -> Any:
    return modelpack("k8s", "--plain-http", "--kind", "kserve", image, "--model-format", "sklearn", *extra)


@pytest.mark.parametrize("pickled", [False, True])
def test_a_large_uncompressed_layer_is_read_by_its_headers(registry: Registry, proxy: FaultProxy, tmp_path: Path,
                                                           pickled: bool) -> None:
    """48 MiB of weights before the pickle: what the check reads of the layer is its headers, and the
    first bytes of a `.bin` file (sniffed: a pickle is found behind the weights, zeros are not one)."""
    files: dict[str, bytes | int] = {"models/weights.safetensors": 48 * MIB, "models/raw.bin": 8 * MIB}
    if pickled:
        files["models/sub/pytorch_model.bin"] = PICKLE + bytes(MIB)
    tagged = f"{proxy.host}/{registry.repo('car').split('/', 1)[1]}:1"
    pinned = push_image(tagged, [(TAR, tar_file(tmp_path / "model.tar", files))])
    proxy.clear()
    run = _kserve(tagged)
    if pickled:
        assert_one_line(run.err, 2, run.code, "sub/pytorch_model.bin", "unpickle", "--trust-unverified-pickle")
        assert "raw.bin" not in run.err
    else:
        assert run.code == 0 and f"storageUri: oci://{pinned}" in run.out, run.err
    ranged = proxy.requests("GET", "[Range: bytes=")
    assert ranged and all("/blobs/" in line for line in ranged)
    assert proxy.body_bytes < MIB, proxy.body_bytes  # not the 57 MiB layer


def test_range_requests_are_capped(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More files than the requests allowed (8192 in use; 4 here): refused, naming the flags, not read on."""
    monkeypatch.setattr("modelpack.image.modelcar_contents.MAX_REQUESTS", 4)
    monkeypatch.setattr("modelpack.image.layer_entries.WHOLE_AT_MOST", 0)  # (else read whole: it is small)
    files: dict[str, bytes | int] = {f"models/part-{n}.safetensors": 64 * 1024 for n in range(8)}
    pinned = push_image(registry.repo("car") + ":many", [(TAR, tar_file(tmp_path / "many.tar", files))])
    with pytest.raises(UntrustedContentError, match="more than 4 range requests") as refused:
        mp.kubernetes(pinned, "kserve", model_format="sklearn", options=PLAIN)
    assert "trust_unverified_pickle=True" in str(refused.value)


def _case(tmp_path: Path, name: str, files: dict[str, bytes | int]) -> Path:
    return tar_file(tmp_path / f"{name}.tar", files)


def test_a_pickle_a_later_layer_deletes_is_not_counted_and_one_it_adds_is(registry: Registry,
                                                                           tmp_path: Path) -> None:
    base = _case(tmp_path, "base", {"models/model.joblib": PICKLE, "models/sub/model.pkl": PICKLE,
                                    "models/config.json": b"{}"})
    # `.wh.model.joblib` deletes the file below; `.wh..wh..opq` empties sub/ of what the layers below put there.
    cleaned = _case(tmp_path, "cleaned", {"models/.wh.model.joblib": b"", "models/sub/.wh..wh..opq": b"",
                                          "models/sub/model.onnx": b"\x08\x07"})
    clean = push_image(registry.repo("car") + ":clean", [(TAR_GZIP, base), (TAR, cleaned)])
    run = _kserve(clean)
    assert run.code == 0 and "kind: InferenceService" in run.out, run.err
    # A layer above the whiteouts adds a pickle back: counted.
    again = _case(tmp_path, "again", {"models/sub/model.pkl": PICKLE})
    readded = push_image(registry.repo("car") + ":again", [(TAR_GZIP, base), (TAR, cleaned), (TAR, again)])
    refused = _kserve(readded)
    assert_one_line(refused.err, 2, refused.code, "sub/model.pkl", "unpickle")
    assert "model.joblib" not in refused.err
    # A whiteout hides the layers below it only, not a file of its own layer.
    same = _case(tmp_path, "same", {"models/.wh.model.joblib": b"", "models/model.joblib": PICKLE})
    own = push_image(registry.repo("car") + ":own", [(TAR, same)])
    refused = _kserve(own)
    assert_one_line(refused.err, 2, refused.code, "model.joblib", "unpickle")


def test_a_tar_whose_headers_lead_back_is_refused(registry: Registry, tmp_path: Path) -> None:
    """A member whose size (base-256, negative) points the next header back at an earlier one: read
    once, then refused, not read again and again."""
    tar = bytearray(_case(tmp_path, "loop", {"models/a.onnx": b"x" * 600, "models/model.joblib": PICKLE})
                    .read_bytes())
    second = 512 + 1024  # the second header, after the first member's two blocks
    tar[second + 124:second + 136] = b"\xff" * 11 + b"\xf9"  # -7: six blocks back, onto the first header
    tar[second + 148:second + 156] = b" " * 8
    tar[second + 148:second + 156] = b"%06o\0 " % sum(tar[second:second + 512])
    (tmp_path / "loop.tar").write_bytes(bytes(tar) + bytes(WHOLE_AT_MOST))  # (zeros past its end: read by ranges)
    pinned = push_image(registry.repo("car") + ":loop", [(TAR, tmp_path / "loop.tar")])
    run = _kserve(pinned)
    assert_one_line(run.err, 6, run.code, "leads back")


def _hostile_image(blob_answer: Any, size: int) -> tuple[HostileRegistry, str]:
    """A registry serving a modelcar of one uncompressed layer of `size` bytes, answered by `blob_answer`."""
    config = json.dumps(GOOD_CONFIG).encode()
    config_desc = Descriptor(mediaType="application/vnd.oci.image.config.v1+json", digest=digests.of_bytes(config),
                             size=len(config))
    layer = Descriptor(mediaType=TAR, digest="sha256:" + "ab" * 32, size=size)
    manifest = Manifest(config=config_desc, layers=[layer]).canonical_bytes()
    content = {"1": (MANIFEST, manifest), digests.of_bytes(manifest): (MANIFEST, manifest),
               config_desc.digest: ("application/octet-stream", config)}
    server = HostileRegistry({f"GET /v2/.*/blobs/{layer.digest}": blob_answer, "/v2/.+/(manifests|blobs)/":
                              serve_content(content)})
    return server, "car/x:1"


def _big_tar_head() -> bytes:
    """The start of a tar whose first member is 1 GiB: a streamed read would download all of it to skip it."""
    info = tarfile.TarInfo("models/weights.safetensors")
    info.size = 1 << 30
    return info.tobuf()


def test_a_registry_that_ignores_ranges_is_not_downloaded_whole() -> None:
    size, sent = (1 << 30) + 4096, [0]

    def whole(handler: BaseHTTPRequestHandler) -> None:  # a 200 with the whole (endless) blob, whatever was asked
        handler.send_response(200)
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        try:
            handler.wfile.write(_big_tar_head())
            while sent[0] < size and not server.stop.is_set():
                handler.wfile.write(bytes(1 << 16))
                sent[0] += 1 << 16
        except OSError:
            return

    server, name = _hostile_image(whole, size)
    with server:
        run = _kserve(f"{server.host}/{name}")
        assert_one_line(run.err, 2, run.code, "does not serve byte ranges", "--verify-key",
                        "--trust-unverified-pickle")
        assert any("Range" not in line for line in server.requests("/blobs/sha256:abab"))  # (asked once at least)
    assert sent[0] < 256 * MIB, sent[0]  # what the socket took before the client hung up; never the blob


def test_a_registry_that_answers_ranges_short_fails_in_one_line() -> None:
    size = (1 << 30) + 4096

    def short(handler: BaseHTTPRequestHandler) -> None:  # a 206 naming the range asked, with 100 bytes of it
        first, _, last = handler.headers.get("Range", "bytes=0-").removeprefix("bytes=").partition("-")
        end = int(last) if last else size - 1
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes {first}-{end}/{size}")
        handler.send_header("Content-Length", str(int(end) - int(first) + 1))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(_big_tar_head()[:100])
        handler.close_connection = True

    server, name = _hostile_image(short, size)
    with server:
        run = _kserve(f"{server.host}/{name}")
        assert run.code not in (0, 1) and "Traceback" not in run.err, run.err
        assert len(run.err.strip().splitlines()) == 1, run.err
        assert len(server.requests("/blobs/sha256:abab")) <= 10  # resumed a bounded number of times


def test_a_registry_that_sends_another_range_is_not_read() -> None:
    size = (1 << 30) + 4096

    def elsewhere(handler: BaseHTTPRequestHandler) -> None:  # always the blob's first bytes, whatever was asked
        head = _big_tar_head()
        reply(handler, 206, head, {"Content-Range": f"bytes 0-{len(head) - 1}/{size}"})

    server, name = _hostile_image(elsewhere, size)
    with server:
        run = _kserve(f"{server.host}/{name}")
    assert_one_line(run.err, 2, run.code, "does not serve byte ranges", "--trust-unverified-pickle")


def test_an_opaque_marker_at_a_layer_root_does_not_hide_the_pickles_below(registry: Registry,
                                                                          tmp_path: Path) -> None:
    """A root `.wh..wh..opq` empties the image in containerd's plain unpacker, but Docker's overlay2 and
    containerd's overlayfs snapshotter write it as the layer root's opaque attribute, which overlayfs does
    not apply to its root: /models keeps the pickle below. It was taken as emptying everything (exit 0)."""
    base = _case(tmp_path, "base", {"models/model.joblib": PICKLE})
    top = _case(tmp_path, "top", {".wh..wh..opq": b"", "models/config.json": b"{}"})
    run = _kserve(push_image(registry.repo("car") + ":rootopq", [(TAR, base), (TAR, top)]))
    assert_one_line(run.err, 2, run.code, "model.joblib", "unpickle")


def test_an_image_reached_through_an_index_of_indexes_is_checked(registry: Registry, tmp_path: Path) -> None:
    """containerd walks an index within an index to the manifest it runs (images.Manifest); the check
    read one level and found no layers at all in an index of indexes (exit 0 with a pickle in /models)."""
    from modelpack.oci.descriptor import Index, Platform

    ref = registry.repo("car") + ":nested"
    pinned = push_image(ref, [(TAR, _case(tmp_path, "evil", {"models/model.joblib": PICKLE}))])
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    node = Descriptor(mediaType=MANIFEST, digest=pinned.rsplit("@", 1)[1], size=0)
    node = node.replace(size=len(repo.fetch_manifest(node.digest)[1]))
    for _ in range(2):  # an index of it, then an index of that index (each entry for linux/amd64)
        body = Index(manifests=[node.replace(platform=Platform(architecture="amd64", os="linux"))]).canonical_bytes()
        node = Descriptor(mediaType="application/vnd.oci.image.index.v1+json", digest=digests.of_bytes(body),
                          size=len(body))
        repo.put_manifest(node, body, "nested")
    run = _kserve(ref.rsplit(":", 1)[0] + "@" + node.digest)
    assert_one_line(run.err, 2, run.code, "model.joblib", "unpickle")
