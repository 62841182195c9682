"""specs/ stays true to the code: every media type and annotation key we write is documented there,
and the published metadata schema is the one the pydantic model generates."""

from __future__ import annotations

from pathlib import Path

import modelpack as mp
from helpers import make_tricky_model
from modelpack.metadata.jsonschema import render

SPECS = Path(__file__).resolve().parents[1] / "specs"


def test_metadata_schema_is_current() -> None:
    assert (SPECS / "metadata.schema.json").read_text() == render(), (
        "regenerate: python -m modelpack.metadata.jsonschema > specs/metadata.schema.json"
    )


def test_every_key_and_media_type_we_write_is_documented(tmp_path: Path) -> None:
    model = make_tricky_model(tmp_path / "m")
    (model / "odd.xyz").write_bytes(b"?")
    (model / "data").mkdir()
    (model / "data" / "train.csv").write_text("a,b\n")
    (model / "modelpack.yaml").write_text(
        "name: n\nversion: '1'\ntitle: t\ndescription: d\nauthors: [a]\nlicenses: [MIT]\nvendor: v\nfamily: f\n"
        "framework: fw\nformat: fm\narchitecture: ar\nparamSize: 1B\nprecision: p\nquantization: q\n"
        "metrics: {m: 1}\nhyperparameters: {h: 1}\ndatasets: [d]\nparent: example.com/p:1\nlabels: {l: x}\n"
        "docURL: https://d\nsourceURL: https://s\nrevision: r\nfiles: {archives: [weights/nested]}\n"
    )
    packed = mp.describe(model)
    spec = (SPECS / "format.md").read_text()
    written = {packed.manifest.media_type, packed.manifest.artifact_type, packed.manifest.config.media_type}
    written |= {layer.media_type for layer in packed.manifest.layers}
    assert len({m for m in written if m.endswith((".raw", ".tar"))}) >= 5
    keys = set(packed.manifest.annotations or {})
    for layer in packed.manifest.layers:
        keys |= set(layer.annotations or {})
    for item in sorted(written | keys):
        assert f"`{item}`" in spec, f"{item} is written but not documented in specs/format.md"
