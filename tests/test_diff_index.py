"""`diff` against an index (a tag naming several manifests, e.g. the referrers fallback index a
signature leaves) is refused as `report` and `sbom` refuse it, instead of listing every file as
removed. Against the real registry."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


def test_diff_with_an_index_is_one_line_exit_2(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"w" * 1000)
    ref = registry.repo("diffindex") + ":1.0"
    digest = mp.push(model, ref, ["version=1.0"], options=PLAIN).descriptor.digest
    private = mp.generate_key_pair(tmp_path, b"pw")[0]
    mp.sign(ref, private, b"pw", options=PLAIN)
    index = ref.rsplit(":", 1)[0] + ":" + digest.replace(":", "-")  # Distribution 2.8: the fallback tag
    assert mp.inspect(index, remote_only=True, options=PLAIN).children, "expected the referrers fallback index"
    for old, new in ((ref, index), (index, ref)):
        made = modelpack("diff", "--plain-http", old, new)
        assert made.code == 2, (made.code, made.out, made.err)
        assert made.out == "" and len(made.err.strip().splitlines()) == 1
        # The fallback tag names the model it signs: a newcomer who found it in `crane ls` gets the model
        assert (f"{index} holds the signatures of a model, not a model; name the model itself: "
                f"{ref.rsplit(':', 1)[0]}@{digest}") in made.err
    with pytest.raises(mp.ModelpackError):
        mp.diff(ref, index, options=PLAIN)
    pulled = modelpack("pull", "--plain-http", index, "-o", str(tmp_path / "out"))
    assert pulled.code == 2 and f"name the model itself: {ref.rsplit(':', 1)[0]}@{digest}" in pulled.err
    assert not (tmp_path / "out").exists()
