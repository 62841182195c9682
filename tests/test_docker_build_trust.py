"""`build-image --docker` refuses what the engine-less build refuses, and decides it from the model's manifest
and signature before any Docker client is made: with no engine here, a refusal that comes first is the
pickle's (exit 2) or the signature's (exit 7) line, and what is let through meets the engine's line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from helpers import modelpack
from registry_process import Registry
from test_serve_trust import PLAIN, Hostile, assert_one_line, keypair, model_dir, sign

pytestmark = pytest.mark.interop
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def _hostile(registry: Registry, tmp_path: Path, **files: Any) -> tuple[str, Path]:
    marker = tmp_path / "pwned"
    ref = registry.repo("evil") + ":1"
    mp.push(model_dir(tmp_path, "evil", {"model.joblib": Hostile(marker), **files}), ref, options=PLAIN)
    return ref, marker


def _docker(registry: Registry, ref: str, *extra: str) -> Any:
    return modelpack("build-image", "--plain-http", "--docker", ref, "-t", registry.repo("img") + ":1",
                     "--base", registry.repo("base") + ":1", *extra, env=NO_ENGINE)


def _engine_line(run: Any) -> None:
    """The decision let the build through to the engine, which is not there."""
    assert_one_line(run.err, 5, run.code, "no Docker engine reachable")


@pytest.mark.parametrize("kind", [(), ("--modelcar",)])
def test_an_unverified_pickle_is_refused_before_an_engine_is_asked(registry: Registry, tmp_path: Path,
                                                                   kind: tuple[str, ...]) -> None:
    ref, marker = _hostile(registry, tmp_path)
    run = _docker(registry, ref, *kind)
    assert_one_line(run.err, 2, run.code, "model.joblib", "--verify-key", "--trust-unverified-pickle")
    assert ("modelcar" if kind else "serving image") in run.err and not marker.exists()
    _engine_line(_docker(registry, ref, *kind, "--trust-unverified-pickle"))
    assert not marker.exists()


def test_a_modelcar_refuses_a_pickle_a_serving_image_would_not_load(registry: Registry, tmp_path: Path) -> None:
    """Beside an ONNX file, `serve /models` loads the ONNX file; KServe's runtime chooses for a modelcar."""
    ref, _ = _hostile(registry, tmp_path, **{"model.onnx": b"\x08\x07"})
    _engine_line(_docker(registry, ref))
    assert_one_line(_docker(registry, ref, "--modelcar").err, 2, 2, "modelcar", "model.joblib")


def test_the_signature_is_checked_before_an_engine_is_asked(registry: Registry, tmp_path: Path) -> None:
    ref, marker = _hostile(registry, tmp_path)
    private, public = keypair(tmp_path, "ours")
    _, other = keypair(tmp_path, "other")
    sign(ref, private)
    for kind in ((), ("--modelcar",)):
        wrong = _docker(registry, ref, *kind, "--verify-key", str(other))
        assert_one_line(wrong.err, 7, wrong.code, "no valid signature")
        _engine_line(_docker(registry, ref, *kind, "--verify-key", str(public)))
    assert not marker.exists()


def test_an_xgboost_json_is_read_from_its_first_bytes(registry: Registry, tmp_path: Path) -> None:
    xgboost = b'{"learner":{"attributes":{},"feature_names":[]}}'
    ref, _ = _hostile(registry, tmp_path, **{"model.json": xgboost})
    _engine_line(_docker(registry, ref))  # `serve /models` loads the XGBoost model, not the pickle


def test_the_docker_modelcar_context_has_triton_s_layout(registry: Registry, tmp_path: Path) -> None:
    """What `--docker --modelcar` gives the engine, prepared as it prepares it (no engine needed): the model
    checked by its manifest, pulled by that digest, unpacked and laid out as Triton reads an ONNX model."""
    from modelpack.image.docker_build import arrange_modelcar, checked_digest, dockerfile

    ref = registry.repo("dec") + ":1"
    folder = model_dir(tmp_path, "dec", {"labels.txt": b"a\n", "modelpack.yaml": b"name: dec\nframework: onnx\n"})
    (folder / "onnx").mkdir()
    (folder / "onnx" / "decoder.onnx").write_bytes(b"\x08\x07")
    mp.push(folder, ref, options=PLAIN)
    digest, annotations, _ = checked_digest(mp.Reference.parse(ref), True, PLAIN, None, False)
    pinned = mp.Reference.parse(ref).with_digest(digest)
    mp.pull(pinned, options=PLAIN)
    context = tmp_path / "context"
    mp.unpack(pinned, context / "models")
    layout = arrange_modelcar(context, annotations, pinned.repository)
    files = {str(p.relative_to(context)) for p in context.rglob("*") if p.is_file()}
    assert files == {"models/dec/1/onnx/decoder.onnx", "models/dec/1/labels.txt", "models/dec/config.pbtxt",
                     "models/dec/1/modelpack.yaml"}  # unpack's record of the model, as `pull -o` writes it
    assert 'default_model_filename: "onnx/decoder.onnx"' in (context / "models/dec/config.pbtxt").read_text()
    text = dockerfile("busybox", True, {"io.modelpack.modelcar.layout": layout.name})
    assert 'LABEL "io.modelpack.modelcar.layout"="triton"' in text and "ENTRYPOINT" not in text


def test_the_signature_policy_is_asked_before_an_engine_is(registry: Registry, tmp_path: Path) -> None:
    ref, marker = _hostile(registry, tmp_path)
    reject = tmp_path / "reject.json"
    reject.write_text('{"default": [{"type": "reject"}]}')
    run = _docker(registry, ref, "--trust-unverified-pickle", "--signature-policy", str(reject))
    assert_one_line(run.err, 7, run.code, "rejected by signature policy")
    accept = tmp_path / "accept.json"
    accept.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    # Accepting without a signature vouches for nothing: the pickle is still refused.
    run = _docker(registry, ref, "--signature-policy", str(accept))
    assert_one_line(run.err, 2, run.code, "model.joblib")
    assert not marker.exists()


def test_a_modelcar_of_raw_weights_is_judged_with_their_whole_size(registry: Registry, tmp_path: Path) -> None:
    """Only the first 4 KiB of a remote `.bin` are read: raw weights whose first bytes read as a pickle
    opcode with a length past those 4 KiB (but past the file too, as its manifest size says) were refused
    as a pickle torch.load would run."""
    import numpy as np

    weights = (np.random.default_rng(3).standard_normal(4096) * 0.02).astype(np.float32).tobytes()
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x8e" + weights[1:])  # BINBYTES8, its length the next 8 bytes
    ref = registry.repo("raw") + ":1"
    mp.push(folder, ref, options=PLAIN)
    _engine_line(_docker(registry, ref, "--modelcar"))
