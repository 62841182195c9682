"""A registry's JSON may spell a lone surrogate (`"\\ud800"`): Python reads it as a character no UTF-8
encodes. In an annotation it made `report` an internal error (exit 70, no document), the UI's version page
a server error, and `inspect` write the raw byte 0x9b (an 8-bit CSI) for `\\udc9b` where stdout uses
surrogateescape (a C locale); as a layer path it made `pull -o` an internal error; in a title or description
`build-image` and `sbom --attach` (JSON we write as UTF-8) internal errors. It is shown as the escape
`\\ud800`, as control characters are; a path holding one is refused (exit 6); an image leaves such a field
out, an ML-BOM has U+FFFD in its place."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import modelpack as mp
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor
from modelpack.store.options import ClientOptions
from registry_process import Registry
from ui_support import Pages

PLAIN = ClientOptions(plain_http=True)
CONFIG = b'{"descriptor":{"name":"m"},"config":{},"modelfs":{"type":"layers","diffIds":[]}}'
WEIGHTS = b"weights" * 10


def push_raw(ref: str, annotations: str, path: str = "w.bin", weights: bytes = WEIGHTS) -> str:
    """A model whose manifest is written by hand: `annotations` and `path` are JSON text as they stand
    (`\\ud800` escapes kept), so nothing on our side has to encode a lone surrogate."""
    target = mp.remote(mp.Reference.parse(ref), PLAIN)
    for blob in (CONFIG, weights):
        target.push_blob(Descriptor(mediaType="application/octet-stream", digest=digests.of_bytes(blob),
                                    size=len(blob)), lambda blob=blob: io.BytesIO(blob))
    text = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
            '"artifactType":"application/vnd.cncf.model.manifest.v1+json",'
            f'"config":{{"mediaType":"application/vnd.cncf.model.config.v1+json","digest":"{digests.of_bytes(CONFIG)}",'
            f'"size":{len(CONFIG)}}},"layers":[{{"mediaType":"application/vnd.cncf.model.weight.v1.raw",'
            f'"digest":"{digests.of_bytes(weights)}","size":{len(weights)},'
            f'"annotations":{{"org.cncf.model.filepath":"{path}"}}}}],"annotations":{annotations}}}')
    data = text.encode()
    desc = Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json", digest=digests.of_bytes(data),
                      size=len(data))
    target.put_manifest(desc, data, "1")
    return desc.digest


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The CLI as a terminal in a C locale runs it: stdout writes what it cannot encode as raw bytes."""
    env = {**{k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "PYTHONUTF8")}, **(env or {})}
    env.update(LC_ALL="C", LANG="C")
    return subprocess.run([sys.executable, "-m", "modelpack", *args], capture_output=True, timeout=120, env=env)


ANNOTATIONS = '{"io.modelpack.model.name":"m\\ud800x","org.opencontainers.image.description":"d\\udc9b"}'


def test_lone_surrogates_in_annotations_are_shown_escaped(registry: Registry) -> None:
    ref = registry.repo() + ":1"
    push_raw(ref, ANNOTATIONS)
    for fmt in ("md", "html"):
        report = run("report", "--plain-http", "--format", fmt, ref)
        assert report.returncode == 0, report.stderr
        assert "m\\ud800x" in report.stdout.decode().replace("\\\\", "\\")  # Markdown escapes the backslash
    shown = run("inspect", "--remote", "--plain-http", ref)
    assert shown.returncode == 0, shown.stderr
    assert b"\x9b" not in shown.stdout and "d\\udc9b" in shown.stdout.decode()


def test_the_ui_shows_lone_surrogates_escaped(registry: Registry, ui: Callable[..., str]) -> None:
    repo = registry.repo()
    digest = push_raw(f"{repo}:1", ANNOTATIONS)
    page = Pages(ui([repo])).get(f"/v/{repo}@{digest}")
    assert "m\\ud800x" in page and "d\\udc9b" in page


def test_a_path_holding_a_lone_surrogate_is_refused(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":1"
    push_raw(ref, "{}", path="a\\ud800.bin")
    pulled = run("pull", "--plain-http", ref, "-o", str(tmp_path / "out"))
    assert pulled.returncode == 6, pulled.stderr
    assert pulled.stderr.decode() == "error: refused path 'a\\ud800.bin': it holds a lone surrogate, which no file " \
                                     "name can\n"
    assert not (tmp_path / "out").exists()


TEXTS = ('{"io.modelpack.model.name":"m","org.opencontainers.image.description":"d\\ud800",'
         '"org.opencontainers.image.title":"t\\udc9b"}')


def test_a_modelcar_leaves_out_a_title_or_description_holding_one(registry: Registry) -> None:
    # The image's config and manifest are JSON we write: build-image was an internal error (exit 70).
    from test_image import push_base
    from test_image_hostile_time import _config

    model = registry.repo() + ":1"
    push_raw(model, TEXTS)
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    image = registry.repo("car") + ":1"
    built = run("build-image", "--plain-http", "--modelcar", model, "-t", image, "--base", base)
    assert built.returncode == 0, built.stderr
    labels = _config(image)["config"]["Labels"]
    assert "org.opencontainers.image.description" not in labels and "org.opencontainers.image.title" not in labels
    assert labels["io.modelpack.model.digest"].startswith("sha256:")


def test_an_ml_bom_holding_one_is_attached_with_a_replacement_character(registry: Registry, tmp_path: Path) -> None:
    # A signed statement is UTF-8: `sbom --attach` was an internal error (exit 70).
    from test_signing import keypair

    ref = registry.repo() + ":1"
    push_raw(ref, TEXTS)
    private, _ = keypair(tmp_path, "k")
    made = run("sbom", "--plain-http", ref, "--attach", "--key", str(private), "-o", str(tmp_path / "bom.json"),
               env={"COSIGN_PASSWORD": "pw"})
    assert made.returncode == 0, made.stderr
    assert json.loads((tmp_path / "bom.json").read_text())["metadata"]["component"]["description"] == "d\ufffd"


def test_a_served_version_holding_one_answers_over_grpc_and_rest(registry: Registry, tmp_path: Path) -> None:
    # gRPC strings are UTF-8: the version (in every ModelInfer answer) and the metadata's `parameters` made
    # each gRPC call fail (the server's exception), so the model could not be used over gRPC at all.
    import urllib.request

    import pytest

    grpc_client = pytest.importorskip("tritonclient.grpc")
    import numpy as np

    from conftest import ServerThreads
    from serve_models import iris_skops

    folder, model = iris_skops(tmp_path / "iris")
    ref = registry.repo() + ":1"
    push_raw(ref, '{"io.modelpack.model.name":"iris","org.opencontainers.image.version":"1\\ud800",'
                  '"io.modelpack.model.framework":"scikit-learn","io.modelpack.model.metrics+json":"{\\"a\\\\udc9b\\":1}"}',
             path="model.skops", weights=(folder / "model.skops").read_bytes())
    threads = ServerThreads()
    try:
        server = mp.serve_model(ref, port=0, grpc_port=0, options=PLAIN, store=mp.LayoutStore(tmp_path / "store"))
        base = threads.start(server)
        client = grpc_client.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        meta = client.get_model_metadata("iris")
        assert meta.versions == ["1\ufffd"]
        rows = np.array([[5.1, 3.5, 1.4, 0.2]])
        tensor = grpc_client.InferInput("input-0", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows)
        answer = client.infer("iris", [tensor])
        assert answer.as_numpy("predict").tolist() == model.predict(rows).tolist()
        described = json.loads(urllib.request.urlopen(f"{base}/v2/models/iris", timeout=30).read())
        assert described["versions"] == ["1\ufffd"] and described["parameters"]["metrics"] == {"a\ufffd": 1}
    finally:
        threads.stop()
