"""build-image and `k8s --kind image-volume` ask `serve REF`'s question: a serving image runs `modelpack serve
/models`, and a directory is its user's choice (a pickle there is loaded), so a pickle from a registry becomes
a serving image's /models only when its signature verified (--verify-key) or the user opted in
(--trust-unverified-pickle)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from helpers import modelpack
from registry_process import Registry
from test_image import crane, push_base
from test_image_refusals import tags
from test_serve_trust import PLAIN, Hostile, assert_one_line, keypair, model_dir, sign

pytestmark = pytest.mark.interop


def _hostile(registry: Registry, tmp_path: Path, **files: Any) -> tuple[str, Path]:
    """A model whose model.joblib runs `touch MARKER` when unpickled, pushed; its reference and the marker."""
    marker = tmp_path / "pwned"
    ref = registry.repo("evil") + ":1"
    mp.push(model_dir(tmp_path, "evil", {"model.joblib": Hostile(marker), **files}), ref, options=PLAIN)
    return ref, marker


def _build(registry: Registry, ref: str, *extra: str) -> tuple[Any, str]:
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    image = registry.repo("img") + ":1"
    return modelpack("build-image", "--plain-http", ref, "-t", image, "--base", base, "--no-serving-layer",
                     *extra), image


def test_serving_image_of_an_unverified_pickle_is_refused(registry: Registry, tmp_path: Path) -> None:
    ref, marker = _hostile(registry, tmp_path)
    run, image = _build(registry, ref)
    assert_one_line(run.err, 2, run.code, "serving image", "model.joblib", "--verify-key",
                    "--trust-unverified-pickle")
    assert tags(image) == [] and run.out == ""  # nothing was pushed
    assert not marker.exists()


def test_the_opt_in_builds_the_image_whose_entrypoint_runs_the_pickle(registry: Registry, crane_bin: Path,
                                                                      serving: Any, tmp_path: Path) -> None:
    ref, marker = _hostile(registry, tmp_path)
    run, image = _build(registry, ref, "--trust-unverified-pickle")
    assert run.code == 0, run.err
    # What the refusal prevents: the image's `modelpack serve /models`, on its own /models, runs the pickle.
    root = tmp_path / "rootfs"
    with tarfile.open(fileobj=io.BytesIO(crane(crane_bin, "export", image, "-"))) as tar:
        tar.extractall(root, filter="data")
    serving(str(root / "models"))
    assert marker.exists()


def test_a_pickle_signed_with_the_key_given_builds(registry: Registry, tmp_path: Path) -> None:
    ref, marker = _hostile(registry, tmp_path)
    private, public = keypair(tmp_path, "ours")
    sign(ref, private)
    run, image = _build(registry, ref, "--verify-key", str(public))
    assert run.code == 0, run.err
    assert tags(image) == ["1"] and not marker.exists()


def test_a_pickle_signed_by_another_key_is_refused(registry: Registry, tmp_path: Path) -> None:
    ref, marker = _hostile(registry, tmp_path)
    attacker, _ = keypair(tmp_path, "attacker")
    _, ours = keypair(tmp_path, "ours")
    sign(ref, attacker)
    run, image = _build(registry, ref, "--verify-key", str(ours))
    assert_one_line(run.err, 7, run.code, "no valid signature")
    assert tags(image) == [] and not marker.exists()


def test_a_safe_file_beside_a_stray_pickle_is_what_the_image_serves(registry: Registry, tmp_path: Path) -> None:
    ref, _ = _hostile(registry, tmp_path, **{"model.onnx": b"\x08\x07"})
    run, image = _build(registry, ref)
    assert run.code == 0, run.err  # `serve /models` chooses the ONNX file: the pickle is never loaded
    assert tags(image) == ["1"]


def _volume(registry: Registry, ref: str, *extra: str) -> Any:
    server = registry.repo("server") + ":1"
    push_base(server, ("amd64",))
    return modelpack("k8s", "--plain-http", "--kind", "image-volume", "--serving-image", server, ref, *extra)


def test_an_unverified_pickle_as_an_image_volume_is_refused(registry: Registry, tmp_path: Path) -> None:
    ref, _ = _hostile(registry, tmp_path)
    refused = _volume(registry, ref)
    assert_one_line(refused.err, 2, refused.code, "serving image's /models", "model.joblib", "--verify-key")
    assert refused.out == ""
    assert "kind: Deployment" in _volume(registry, ref, "--trust-unverified-pickle").out
    private, public = keypair(tmp_path, "ours")
    _, other = keypair(tmp_path, "other")
    sign(ref, private)
    assert "kind: Deployment" in _volume(registry, ref, "--verify-key", str(public)).out
    wrong = _volume(registry, ref, "--verify-key", str(other))
    assert_one_line(wrong.err, 7, wrong.code, "no valid signature")


def test_an_image_volume_json_is_judged_by_its_first_bytes(registry: Registry, tmp_path: Path) -> None:
    xgboost = b'{"learner":{"attributes":{},"feature_names":[]}}'
    ref, _ = _hostile(registry, tmp_path, **{"model.json": xgboost})
    assert _volume(registry, ref).code == 0  # the serving image loads the XGBoost model, not the pickle
    (tmp_path / "other").mkdir()
    other, _ = _hostile(registry, tmp_path / "other", **{"config.json": b'{"labels": []}'})
    refused = _volume(registry, other)
    assert_one_line(refused.err, 2, refused.code, "model.joblib")
