"""`diff`, `sbom` and `report` of a container image (a modelcar or serving image `build-image` made, or any
image) are refused in one line naming the model to use instead, rather than listing the model's every file
as added or removed (diff) or the image's filesystem layers as a model's files (sbom, report). Against the
real registry."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_image import push_base

PLAIN = ClientOptions(plain_http=True)


@pytest.mark.parametrize("archs", [("amd64",), ("amd64", "arm64")])
def test_diff_of_a_modelcar_names_the_model_it_was_built_from(registry: Registry, tmp_path: Path,
                                                              archs: tuple[str, ...]) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"w" * 1000)
    ref = registry.repo("car") + ":1.0"
    digest = mp.push(model, ref, ["version=1.0"], options=PLAIN).descriptor.digest
    base = registry.repo("base") + ":1"
    push_base(base, archs)
    car = registry.repo("car") + ":1.0"
    built = modelpack("build-image", "--plain-http", "--modelcar", ref, "-t", car, "--base", base)
    assert built.code == 0, built.err
    pinned = f"{ref.rsplit(':', 1)[0]}@{digest}"
    for old, new in ((car, ref), (ref, car)):
        made = modelpack("diff", "--plain-http", old, new)
        assert made.code == 2, (made.code, made.out, made.err)
        assert made.out == "" and made.err == (f"error: {car} is a container image, not a model artifact; diff the "
                                               f"model it was built from: {pinned}\n")
    with pytest.raises(mp.ModelpackError, match="is a container image, not a model artifact"):
        mp.diff(ref, car, options=PLAIN)
    base_diff = modelpack("diff", "--plain-http", base, ref)
    assert base_diff.code == 2 and base_diff.err == (f"error: {base} is a container image, not a model artifact; "
                                                     "diff the model artifacts themselves\n")
    for command, instead in (("sbom", "take the ML-BOM of"), ("report", "report on")):
        made = modelpack(command, "--plain-http", car)
        assert (made.code, made.out) == (2, ""), made.err
        assert made.err == (f"error: {car} is a container image, not a model artifact; {instead} the model it was "
                            f"built from: {pinned}\n")
    assert modelpack("sbom", "--plain-http", ref).code == 0  # the model itself still has its BOM
