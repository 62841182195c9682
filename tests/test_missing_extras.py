"""A command without an extra it needs says so before it costs anything: `serve REF` (`[grpc]` for
--grpc-port, `[serve]`'s HTTP stack) pulled the whole model into the store, loaded it, and only then said
`pip install "modelpack[grpc]"`; `sbom --attach` asked for the key's password first. The extra is made
missing for the child process by a package of that name, ahead on PYTHONPATH, whose import fails as a
missing one does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from helpers import modelpack
from registry_process import Registry


def _push_iris(registry: Registry, tmp_path: Path) -> str:
    folder = tmp_path / "iris"
    folder.mkdir()
    x, y = load_iris(return_X_y=True)
    sio.dump(LogisticRegression(max_iter=300).fit(x, y), folder / "model.skops")
    ref = registry.repo() + ":1"
    assert modelpack("push", "--plain-http", str(folder), ref).code == 0
    return ref


def _without(tmp_path: Path, package: str) -> dict[str, str]:
    shadow = tmp_path / "shadow"
    (shadow / package).mkdir(parents=True)
    (shadow / package / "__init__.py").write_text(f"raise ModuleNotFoundError({'No module named ' + package!r}, "
                                                  f"name={package!r})\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(shadow), os.environ.get("PYTHONPATH")]))}


@pytest.mark.parametrize(("package", "extra", "message"), [
    ("grpc", ["--grpc-port", "0"], 'error: --grpc-port needs grpcio and protobuf: pip install "modelpack[grpc]"'),
    ("uvicorn", [], 'error: serving needs uvicorn, which is not installed: pip install "modelpack[serve]"'),
])
def test_a_missing_extra_is_said_before_the_model_is_pulled(registry: Registry, tmp_path: Path, package: str,
                                                            extra: list[str], message: str) -> None:
    ref = _push_iris(registry, tmp_path)
    home = tmp_path / "home"
    env = {**_without(tmp_path, package), "MODELPACK_HOME": str(home)}
    run = modelpack("serve", "--plain-http", "--port", "0", *extra, ref, env=env, timeout=60)
    assert (run.code, run.out, run.err) == (2, "", message + "\n"), run.err
    blobs = home / "blobs" / "sha256"
    assert not blobs.exists() or list(blobs.iterdir()) == []  # nothing downloaded


def test_sbom_attach_without_the_extra_says_so_before_asking_a_password(registry: Registry, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    ref = _push_iris(registry, tmp_path)
    assert modelpack("generate-key-pair", "-d", str(tmp_path), env={"COSIGN_PASSWORD": "pw"}).code == 0
    run = modelpack("sbom", "--plain-http", "--attach", "--key", str(tmp_path / "cosign.key"), ref,
                    env=_without(tmp_path, "cyclonedx"), stdin="")
    assert (run.code, run.out, run.err) == (
        2, "", "error: the ML-BOM needs cyclonedx-python-lib: pip install 'modelpack[sbom]'\n"), run.err
