"""MLServer's model-settings.json in a modelcar (`image/mlserver_settings`): KServe's `kserve-mlserver` runtime
serves sklearn and xgboost modelcars, finds any `model-settings.json` under /mnt/models and imports the class
its `implementation` names with the file's folder on sys.path, loads the file its `parameters.uri` names
whatever its suffix, or runs the model in the environment tarball it names. Such a modelcar is refused as one
holding a pickle is (unless vouched for); one MLServer cannot read is refused when it is built.

Before: `build-image --modelcar` built each of them (exit 0) and `k8s --kind kserve` wrote each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelpack.image.mlserver_settings import runs_code, unreadable
from registry_process import Registry
from test_docker_build_trust import _docker, _engine_line
from test_image_refusals import tags
from test_kserve_modelcar_trust import _kserve, push_modelcar
from test_modelcar import _car, _push
from test_serve_trust import assert_one_line

pytestmark = pytest.mark.interop
SKOPS = b"PK\x03\x04 skops"  # a file no runtime unpickles


def settings(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize("path, content, said", [
    ("model-settings.json", settings(name="car", implementation="models.Evil"), "MLServer imports 'models.Evil'"),
    ("model-settings.json", settings(parameters={"uri": "./weights.dat"}),
     "MLServer loads './weights.dat' whatever its name"),
    ("sub/model-settings.json", settings(parameters={"environment_tarball": "env.tar.gz"}),
     "MLServer runs the model in the environment 'env.tar.gz'"),
])
def test_settings_that_make_mlserver_run_code_are_refused_unless_vouched(registry: Registry, tmp_path: Path,
                                                                         path: str, content: bytes, said: str) -> None:
    ref = _push(registry, tmp_path, {"model.skops": SKOPS, path: content, "models.py": b"import os\n"})
    run, image = _car(registry, ref)
    assert_one_line(run.err, 2, run.code, f"{path} ({said})", "--verify-key", "--trust-unverified-pickle")
    assert tags(image) == []
    built, image = _car(registry, ref, "--trust-unverified-pickle")
    assert built.code == 0, built.err
    assert tags(image) == ["1"]


def test_settings_naming_mlservers_own_runtime_build_without_a_flag(registry: Registry, tmp_path: Path) -> None:
    ref = _push(registry, tmp_path, {"model.skops": SKOPS, "model-settings.json": settings(
        name="car", implementation="mlserver_sklearn.SKLearnModel", parameters={"version": "1"})})
    run, image = _car(registry, ref)
    assert run.code == 0, run.err
    assert tags(image) == ["1"]


@pytest.mark.parametrize("content, said", [(b"{not json", "model-settings.json is not JSON"),
                                           (b"[]", "model-settings.json is not a JSON object"),
                                           (settings(parameters="x"), "has 'parameters' that is not an object"),
                                           (b" " * (65 * 1024) + b"{}", "model-settings.json is over 64 KiB")])
def test_settings_mlserver_cannot_read_are_refused_even_when_trusted(registry: Registry, tmp_path: Path,
                                                                     content: bytes, said: str) -> None:
    ref = _push(registry, tmp_path, {"model.skops": SKOPS, "model-settings.json": content})
    run, image = _car(registry, ref, "--trust-unverified-pickle")
    assert_one_line(run.err, 2, run.code, said, "MLServer")
    assert tags(image) == []


@pytest.mark.parametrize("content", [settings(implementation="models.Evil"),
                                     settings(name="x" * 5000)])  # longer than the head read: counted, unread
def test_k8s_refuses_a_third_party_modelcar_whose_settings_run_code(registry: Registry, content: bytes) -> None:
    image = push_modelcar(registry.repo("car") + ":1", {"models/model.skops": SKOPS,
                                                        "models/model-settings.json": content})
    run = _kserve(image)
    assert_one_line(run.err, 2, run.code, "model-settings.json (", "--trust-unverified-pickle")
    assert _kserve(image, "--trust-unverified-pickle").code == 0


def test_build_image_docker_reads_the_settings_from_the_registry(registry: Registry, tmp_path: Path) -> None:
    """`--docker --modelcar` decides from heads read in the registry, before any engine is asked."""
    evil = settings(implementation="models.Evil")
    ref = _push(registry, tmp_path, {"model.skops": SKOPS, "model-settings.json": evil, "config.json": b"{}"})
    assert_one_line(_docker(registry, ref, "--modelcar").err, 2, 2, "model-settings.json (MLServer imports")
    (tmp_path / "plain").mkdir()
    ref = _push(registry, tmp_path / "plain", {"model.skops": SKOPS, "model-settings.json": settings(name="car")})
    _engine_line(_docker(registry, ref, "--modelcar"))


def test_what_counts() -> None:
    assert runs_code(settings(name="iris", parameters={"version": "2", "extra": {"a": 1}})) is None
    assert runs_code(settings(implementation="mlserver_xgboost.XGBoostModel")) is None
    assert runs_code(settings(implementation="mlserver_mlflow.MLflowRuntime")) is not None  # pyfunc pickles
    assert runs_code(b"\xff\xfe") is not None and unreadable(b"\xff\xfe") == "is not JSON"
    assert unreadable(settings(name=3)) == "has 'name' that is not a string"
    assert unreadable(settings(parameters={"uri": ["a"]})) == "has 'parameters.uri' that is not a string"
    assert unreadable(b"[" * 100_000 + b"]" * 100_000) is not None  # over the limit, never parsed
    assert unreadable(b"[" * 30_000 + b"]" * 30_000) == "is not JSON"  # nested past the parser's depth
