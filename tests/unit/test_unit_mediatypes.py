"""Layer media types, current and legacy `cnai` names."""

from __future__ import annotations

import itertools

import pytest

from modelpack.oci import mediatypes as mt

PACKINGS = ("raw", "tar", "tar+gzip", "tar+zstd")


def test_layer_media_type_names() -> None:
    assert mt.layer_media_type("weight", "raw") == "application/vnd.cncf.model.weight.v1.raw"
    assert mt.layer_media_type("weight.config", "tar") == "application/vnd.cncf.model.weight.config.v1.tar"
    assert mt.layer_media_type("doc", "tar+gzip") == "application/vnd.cncf.model.doc.v1.tar+gzip"
    assert mt.layer_media_type("dataset", "tar+zstd") == "application/vnd.cncf.model.dataset.v1.tar+zstd"
    assert mt.layer_media_type("code", "raw") == "application/vnd.cncf.model.code.v1.raw"


@pytest.mark.parametrize(("kind", "packing"), list(itertools.product(mt.KINDS, PACKINGS)))
def test_parse_round_trips_every_kind_and_packing(kind: mt.Kind, packing: mt.Packing) -> None:
    assert mt.parse_layer_media_type(mt.layer_media_type(kind, packing)) == (kind, packing)


@pytest.mark.parametrize(("kind", "packing"), list(itertools.product(mt.KINDS, PACKINGS)))
def test_parse_accepts_legacy_cnai_names(kind: str, packing: str) -> None:
    assert mt.parse_layer_media_type(f"application/vnd.cnai.model.{kind}.v1.{packing}") == (kind, packing)


@pytest.mark.parametrize(
    "media_type",
    [
        "",
        "application/octet-stream",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.cncf.model.weight.v1",
        "application/vnd.cncf.model.weight.v2.raw",
        "application/vnd.cncf.model.weights.v1.raw",
        "application/vnd.cncf.model.weight.v1.zip",
        "application/vnd.cncf.model.weight.v1.tar+bzip2",
        "application/vnd.cncf.model.weight.v1.raw+extra",
        "application/vnd.cncf.model.config.v1+json",
        "application/vnd.cncf.model.manifest.v1+json",
        "application/vnd.cncf.model.Weight.v1.raw",
        "application/vnd.cnai.model.unknown.v1.tar",
        "application/vnd.other.model.weight.v1.raw",
        "xapplication/vnd.cncf.model.weight.v1.raw",
    ],
)
def test_parse_returns_none_for_other_media_types(media_type: str) -> None:
    assert mt.parse_layer_media_type(media_type) is None


def test_model_config_detection() -> None:
    assert mt.is_model_config(mt.MODEL_CONFIG)
    assert mt.is_model_config("application/vnd.cnai.model.config.v1+json")
    assert not mt.is_model_config(mt.OCI_EMPTY)
