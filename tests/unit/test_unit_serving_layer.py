"""The serving layer's pieces that need no network: finding a base image's Python, the requirements
chosen for another Python, pip's platform tags, and the reproducible layer written from a folder."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from modelpack.errors import IntegrityError, ModelpackError, UsageError
from modelpack.image import pip_target
from modelpack.image.base_python import python_of
from modelpack.image.serving_layer import _load, _tree, _write_layer
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor

TAR = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def _layer(names: list[str], gzipped: bool = False) -> tuple[Descriptor, bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO(b""))
    data = gzip.compress(buffer.getvalue()) if gzipped else buffer.getvalue()
    return Descriptor(mediaType=TAR_GZIP if gzipped else TAR, digest=digests.of_bytes(data), size=len(data)), data


def _python(config: dict[str, Any], layers: list[tuple[Descriptor, bytes]]) -> Any:
    blobs = {desc.digest: data for desc, data in layers}
    return python_of(config, [desc for desc, _ in layers], lambda d: io.BytesIO(blobs[d.digest]), "base:1")


def test_the_official_images_say_their_python_in_the_environment() -> None:
    found = _python({"config": {"Env": ["PATH=/usr/local/bin", "PYTHON_VERSION=3.12.7"]}}, [])
    assert (found.version, found.interpreter, found.found_by) == ("3.12", "/usr/local/bin/python3.12",
                                                                  "env PYTHON_VERSION")


def test_a_debian_base_is_read_from_its_layers_listing() -> None:
    layers = [_layer(["./usr/bin/python3.11", "./etc/debian_version"], gzipped=True),
              _layer(["usr/lib/python3.11/os.py", "usr/lib/python3/dist-packages/x.py"])]
    found = _python({"config": {}}, layers)
    assert (found.version, found.interpreter, found.found_by) == ("3.11", "/usr/bin/python3.11", "layers")


@pytest.mark.parametrize("names, expected", [
    (["bin/sh", "etc/passwd"], "has no Python 3"),
    (["usr/lib/python3.11/os.py"], "has no Python 3"),  # a standard library without its interpreter
    (["lib/ld-musl-x86_64.so.1", "usr/lib/python3.11/os.py", "usr/bin/python3.11"], r"musl \(Alpine\)"),
])
def test_bases_the_serving_layer_cannot_run_on_are_refused(names: list[str], expected: str) -> None:
    with pytest.raises(UsageError, match=expected):
        _python({"config": {}}, [_layer(names)])


def test_a_layer_that_is_not_a_tar_is_an_integrity_error() -> None:
    data = b"not a tar at all" * 100
    desc = Descriptor(mediaType=TAR_GZIP, digest=digests.of_bytes(data), size=len(data))
    with pytest.raises(IntegrityError, match="not a readable tar"):
        _python({"config": {}}, [(desc, data)])


def test_requirements_are_chosen_for_the_target_python(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = ["click>=8.1", 'tomli>=1.1; python_version < "3.11"', 'numpy>=1.24; extra == "serve"',
                'docker>=7; extra == "docker"', 'pytest>=8; extra == "test"',
                'colorama; sys_platform == "win32" and extra == "serve"']
    monkeypatch.setattr(pip_target.importlib.metadata, "requires", lambda name: declared)
    assert pip_target.requirements("3.10") == ["click>=8.1", 'colorama; sys_platform == "win32"', "numpy>=1.24",
                                               "tomli>=1.1"]
    assert "tomli>=1.1" not in pip_target.requirements("3.11")


def test_platform_tags_name_every_older_manylinux() -> None:
    assert pip_target.wheel_platform("amd64") == "manylinux_2_28_x86_64"
    tags = pip_target.platform_tags(pip_target.wheel_platform("arm64"))
    assert tags[0] == "manylinux_2_28_aarch64" and "manylinux_2_17_aarch64" in tags
    with pytest.raises(ModelpackError, match="no manylinux wheels for architecture riscv64"):
        pip_target.wheel_platform("riscv64")


def test_the_layer_of_a_folder_is_reproducible_and_readable_by_all(tmp_path: Path) -> None:
    source = tmp_path / "lib"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "__init__.py").write_text("x = 1\n")
    (source / "pkg" / "__init__.py").chmod(0o600)
    (source / "pkg" / "tool").write_text("#!/bin/sh\n")
    (source / "pkg" / "tool").chmod(0o700)
    first = tmp_path / "a"
    second = tmp_path / "b"
    first.mkdir()
    second.mkdir()
    one = _write_layer(first / "layer.tar.gz", _tree(source, "opt/modelpack/lib"), "test")
    two = _write_layer(second / "layer.tar.gz", _tree(source, "opt/modelpack/lib"), "test")
    assert one.descriptor.digest == two.descriptor.digest and one.diff_id == two.diff_id
    raw = gzip.decompress((first / "layer.tar.gz").read_bytes())
    assert one.diff_id == digests.of_bytes(raw)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        modes = {m.name: m.mode for m in tar}
    assert modes["opt/modelpack/lib/pkg/__init__.py"] == 0o644
    assert modes["opt/modelpack/lib/pkg/tool"] == 0o755
    assert _load(first) == one
    (first / "layer.tar.gz").write_bytes(b"truncated")
    assert _load(first) is None  # a damaged cache entry is rebuilt, not pushed
