"""`serve REF` of a model with no file modelpack can serve (safetensors weights, a README) is refused from its
manifest, before its layers are downloaded: it pulled everything first, then said so. Real registry."""

from __future__ import annotations

from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry


def test_nothing_servable_is_refused_before_the_download(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "weights-only"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"w" * 50_000)
    (model / "README.md").write_text("# weights only\n")
    ref = registry.repo("nothing") + ":1"
    mp.push(model, ref, options=ClientOptions(plain_http=True))
    run = modelpack("serve", "--plain-http", "--port", "0", ref)
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == (f"error: no model file modelpack can serve in {ref} (.onnx, scikit-learn .skops/.joblib/.pkl, "
                       "XGBoost .ubj/.bst/.json); nothing was downloaded\n")
    assert mp.list_models() == []  # the store holds nothing of it
