"""build-image asks `serve REF`'s question: a serving image runs `modelpack serve /models`, and a directory is
its user's choice (a pickle there is loaded), so a pickle from a registry becomes a serving image only when
its signature verified (--verify-key) or the user opted in (--trust-unverified-pickle)."""

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
