"""Metadata -> manifest annotations and model-spec config blob, and back through metadata_view."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from modelpack.metadata.load import validate
from modelpack.metadata.mapping import canonical_json, manifest_annotations, metadata_view, model_config, rfc3339
from modelpack.metadata.schema import ModelMetadata
from modelpack.oci import mediatypes as mt

SCHEMA = json.loads((Path(__file__).parent / "data" / "model-spec-config-schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
CREATED = datetime(2024, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
DIFF_IDS = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]

FULL = {
    "name": "iris",
    "version": "1.2.0",
    "title": "Iris classifier",
    "description": "Predicts iris species. – ünïcode",
    "authors": ["Ada Lovelace", "Bob"],
    "licenses": ["MIT", "Apache-2.0"],
    "vendor": "Example Corp",
    "family": "linear",
    "framework": "scikit-learn",
    "format": "joblib",
    "architecture": "LogisticRegression",
    "paramSize": "15",
    "precision": "float64",
    "quantization": "none",
    "capabilities": {
        "inputTypes": ["text"],
        "outputTypes": ["text", "embedding"],
        "knowledgeCutoff": "2024-06-01T12:00:00+02:00",
        "reasoning": False,
        "toolUsage": True,
        "reward": False,
        "languages": ["en", "fr"],
    },
    "metrics": {"accuracy": 0.97, "f1": 0.5},
    "hyperparameters": {"solver": "lbfgs", "C": 1.0, "nested": {"z": [1, 2], "a": None}},
    "datasets": ["iris", "https://example.com/data"],
    "parent": "ghcr.io/org/base:v1",
    "labels": {"stage": "prod", "team": "ml"},
    "docURL": "https://example.com/docs",
    "sourceURL": "https://example.com/src.git",
    "revision": "0123abcd",
}


def full() -> ModelMetadata:
    return validate(dict(FULL))


# --- annotations ----------------------------------------------------------------------------------------


def test_manifest_annotations_keys_and_values() -> None:
    ann = manifest_annotations(full(), CREATED)
    ns = "io.modelpack.model."
    assert ann == {
        "org.opencontainers.image.title": "Iris classifier",
        "org.opencontainers.image.description": "Predicts iris species. – ünïcode",
        "org.opencontainers.image.version": "1.2.0",
        "org.opencontainers.image.created": "2024-03-04T05:06:07Z",
        "org.opencontainers.image.authors": "Ada Lovelace, Bob",
        "org.opencontainers.image.licenses": "MIT AND Apache-2.0",
        "org.opencontainers.image.source": "https://example.com/src.git",
        "org.opencontainers.image.revision": "0123abcd",
        "org.opencontainers.image.vendor": "Example Corp",
        "org.opencontainers.image.documentation": "https://example.com/docs",
        ns + "name": "iris",
        ns + "framework": "scikit-learn",
        ns + "format": "joblib",
        ns + "architecture": "LogisticRegression",
        ns + "family": "linear",
        ns + "paramSize": "15",
        ns + "precision": "float64",
        ns + "quantization": "none",
        ns + "parent": "ghcr.io/org/base:v1",
        ns + "metrics+json": '{"accuracy":0.97,"f1":0.5}',
        ns + "hyperparameters+json": '{"C":1.0,"nested":{"a":null,"z":[1,2]},"solver":"lbfgs"}',
        ns + "datasets+json": '["iris","https://example.com/data"]',
        ns + "labels+json": '{"stage":"prod","team":"ml"}',
        ns + "authors+json": '["Ada Lovelace","Bob"]',
        ns + "capabilities+json": '{"inputTypes":["text"],"knowledgeCutoff":"2024-06-01T10:00:00Z",'
        '"languages":["en","fr"],"outputTypes":["text","embedding"],"reasoning":false,"reward":false,'
        '"toolUsage":true}',
    }
    assert list(ann) == sorted(ann)


def test_json_annotations_are_canonical() -> None:
    ann = manifest_annotations(full(), CREATED)
    json_keys = [k for k in ann if k.endswith("+json")]
    assert len(json_keys) == 6
    for key in json_keys:
        assert key.startswith(mt.NS)
        value = json.loads(ann[key])
        assert canonical_json(value) == ann[key]
        assert json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == ann[key]


def test_annotations_are_all_strings() -> None:
    for key, value in manifest_annotations(full(), CREATED).items():
        assert isinstance(key, str)
        assert isinstance(value, str)


def test_minimal_annotations() -> None:
    ann = manifest_annotations(ModelMetadata(name="m"), CREATED)
    assert ann == {
        mt.A_CREATED: "2024-03-04T05:06:07Z",
        mt.A_TITLE: "m",  # the name stands in for a missing title
        mt.NS + "name": "m",
    }


def test_annotations_independent_of_dict_order() -> None:
    a = validate({"name": "m", "metrics": {"b": 1.0, "a": 2.0}, "labels": {"y": "1", "x": "2"}})
    b = validate({"name": "m", "metrics": {"a": 2.0, "b": 1.0}, "labels": {"x": "2", "y": "1"}})
    assert manifest_annotations(a, CREATED) == manifest_annotations(b, CREATED)
    assert json.dumps(manifest_annotations(a, CREATED)) == json.dumps(manifest_annotations(b, CREATED))


def test_rfc3339_converts_to_utc_and_drops_fractions() -> None:
    from datetime import timedelta

    moment = datetime(2024, 1, 1, 1, 30, 0, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(moment) == "2023-12-31T23:30:00Z"


# --- config blob ----------------------------------------------------------------------------------------


def test_full_model_config_validates_against_model_spec_schema() -> None:
    config = model_config(full(), CREATED, DIFF_IDS)
    VALIDATOR.validate(config)
    assert config["descriptor"]["createdAt"] == "2024-03-04T05:06:07Z"
    assert config["descriptor"]["datasetsURL"] == ["iris", "https://example.com/data"]
    assert config["descriptor"]["licenses"] == ["MIT", "Apache-2.0"]
    assert config["config"]["capabilities"]["knowledgeCutoff"] == "2024-06-01T10:00:00Z"
    assert config["config"]["capabilities"]["languages"] == ["en", "fr"]
    assert config["modelfs"] == {"type": "layers", "diffIds": DIFF_IDS}


def test_minimal_model_config_validates_and_leaves_out_empty_fields() -> None:
    config = model_config(ModelMetadata(name="m"), CREATED, DIFF_IDS[:1])
    VALIDATOR.validate(config)
    assert config == {
        "descriptor": {"name": "m", "createdAt": "2024-03-04T05:06:07Z"},
        "config": {},
        "modelfs": {"type": "layers", "diffIds": DIFF_IDS[:1]},
    }


def test_model_config_carries_nothing_the_schema_forbids() -> None:
    # framework, metrics, labels etc. live only in annotations.
    text = json.dumps(model_config(full(), CREATED, DIFF_IDS))
    for absent in ("scikit-learn", "accuracy", "lbfgs", "stage", "ghcr.io/org/base"):
        assert absent not in text


def test_schema_check_is_real() -> None:
    # The validator refuses what model-spec forbids, so the tests above could fail.
    config = model_config(full(), CREATED, DIFF_IDS)
    config["descriptor"]["framework"] = "x"
    assert not VALIDATOR.is_valid(config)
    config = model_config(full(), CREATED, DIFF_IDS)
    config["descriptor"]["createdAt"] = "yesterday"
    assert not VALIDATOR.is_valid(config)


@pytest.fixture
def new_york_time() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_naive_knowledge_cutoff_does_not_depend_on_local_time_zone(new_york_time: None) -> None:
    meta = validate({"name": "m", "capabilities": {"knowledgeCutoff": "2024-06-01T00:00:00"}})
    config = model_config(meta, CREATED, DIFF_IDS)
    assert config["config"]["capabilities"]["knowledgeCutoff"] == "2024-06-01T00:00:00Z"


# --- metadata_view --------------------------------------------------------------------------------------

EXPECTED_VIEW = {
    "name": "iris",
    "version": "1.2.0",
    "title": "Iris classifier",
    "description": "Predicts iris species. – ünïcode",
    "authors": ["Ada Lovelace", "Bob"],
    "licenses": ["MIT", "Apache-2.0"],
    "vendor": "Example Corp",
    "family": "linear",
    "framework": "scikit-learn",
    "format": "joblib",
    "architecture": "LogisticRegression",
    "paramSize": "15",
    "precision": "float64",
    "quantization": "none",
    "metrics": {"accuracy": 0.97, "f1": 0.5},
    "hyperparameters": {"solver": "lbfgs", "C": 1.0, "nested": {"z": [1, 2], "a": None}},
    "datasets": ["iris", "https://example.com/data"],
    "parent": "ghcr.io/org/base:v1",
    "labels": {"stage": "prod", "team": "ml"},
    "docURL": "https://example.com/docs",
    "sourceURL": "https://example.com/src.git",
    "revision": "0123abcd",
    "created": "2024-03-04T05:06:07Z",
}


def test_metadata_view_round_trips_annotations_and_config() -> None:
    meta = full()
    config = json.loads(json.dumps(model_config(meta, CREATED, DIFF_IDS)))  # as read back from a blob
    view = metadata_view(manifest_annotations(meta, CREATED), config)
    assert view == {**EXPECTED_VIEW, "capabilities": config["config"]["capabilities"]}
    assert list(view) == sorted(view)


def test_metadata_view_round_trips_from_annotations_alone() -> None:
    view = metadata_view(manifest_annotations(full(), CREATED), None)
    caps = {"inputTypes": ["text"], "knowledgeCutoff": "2024-06-01T10:00:00Z", "languages": ["en", "fr"],
            "outputTypes": ["text", "embedding"], "reasoning": False, "reward": False, "toolUsage": True}
    assert view == {**EXPECTED_VIEW, "capabilities": caps}


def test_metadata_view_round_trips_from_config_alone() -> None:
    config = model_config(full(), CREATED, DIFF_IDS)
    view = metadata_view(None, config)
    for key in ("name", "version", "title", "description", "authors", "licenses", "family", "vendor", "docURL",
                "sourceURL", "revision", "created", "datasets", "architecture", "format", "paramSize",
                "precision", "quantization"):
        assert view[key] == EXPECTED_VIEW[key], key
    assert view["capabilities"]["languages"] == ["en", "fr"]


def test_author_with_comma_round_trips_from_annotations_alone() -> None:
    meta = validate({"name": "m", "authors": ["Acme, Inc.", "Bob"]})
    assert metadata_view(manifest_annotations(meta, CREATED), None)["authors"] == ["Acme, Inc.", "Bob"]


def test_metadata_view_of_nothing_is_empty() -> None:
    assert metadata_view(None, None) == {}
    assert metadata_view({}, {}) == {}


def test_metadata_view_tolerates_foreign_artifacts() -> None:
    ann = {
        mt.A_TITLE: "foreign",
        mt.NS + "metrics+json": "{not json",
        "com.example.other": "x",
    }
    config = {"descriptor": ["not", "a", "dict"], "config": "nope"}
    malformed: list[str] = []
    view = metadata_view(ann, config, malformed)
    assert view == {"title": "foreign"}  # a metrics field that is not metrics is left out, and said
    assert malformed == [mt.NS + "metrics+json"]


@pytest.mark.parametrize("text", ["[1,2]", "1e999", '{"a": 1e999}', '{"a": "x"}', '{"a": true}', "[" * 50_000])
def test_structured_annotations_of_the_wrong_shape_are_left_out(text: str) -> None:
    malformed: list[str] = []
    assert "metrics" not in metadata_view({mt.NS + "metrics+json": text}, None, malformed)
    assert malformed == [mt.NS + "metrics+json"]


def test_metadata_view_skips_empty_config_values() -> None:
    config = {"descriptor": {"name": "m", "version": "", "authors": []}, "config": {"format": None, "precision": ""}}
    assert metadata_view(None, config) == {"name": "m"}


def test_structured_annotations_nest_up_to_the_json_depth_bound() -> None:
    from modelpack.oci.jsontext import MAX_DEPTH

    deepest = '{"a":' * (MAX_DEPTH - 1) + '{"m": 1}' + "}" * (MAX_DEPTH - 1)
    assert "metrics" in metadata_view({mt.NS + "metrics+json": '{"m": 1}'}, None)
    assert "hyperparameters" in metadata_view({mt.NS + "hyperparameters+json": deepest}, None)
    too_deep = "[" + deepest + "]"
    assert "hyperparameters" not in metadata_view({mt.NS + "hyperparameters+json": '{"x":' + too_deep + "}"}, None)
