"""One metadata reader per format, one typed result: each format's fields, and hostile input ignored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelpack.model_info import ModelInfo
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.readers import read_fields
from modelpack.readers.values import MAX_EMBEDDED

KITFILE = {"manifestVersion": "1.0.0",
           "package": {"name": "kit-demo", "version": "3.1.4", "authors": ["Ada", 7], "license": "MIT",
                       "description": "a ModelKit"},
           "model": {"name": "demo", "framework": "pytorch", "parameters": {"lr": 0.1}},
           "datasets": [{"name": "train"}, {"path": "data/eval.csv"}, "junk"]}


def manifest(config_type: str = "application/vnd.oci.empty.v1+json", annotations: dict[str, str] | None = None,
             artifact_type: str | None = None) -> Manifest:
    config = Descriptor(mediaType=config_type, digest=digests.of_bytes(b"{}"), size=2)
    layer = Descriptor(mediaType="application/octet-stream", digest=digests.of_bytes(b"x"), size=1,
                       annotations={"org.opencontainers.image.title": "model.bin"})
    return Manifest(config=config, layers=[layer], annotations=annotations, artifactType=artifact_type)


def read(node: Manifest, config: dict[str, Any] | None = None) -> tuple[str, dict[str, Any], list[str]]:
    malformed: list[str] = []
    source, fields = read_fields(node, config, malformed)
    return source, fields, malformed


def test_omlmd_annotations_give_name_and_numeric_metrics() -> None:
    props = {"accuracy": 0.93, "epochs": 5, "stage": "prod", "flag": True, "nested": {"a": 1}}
    source, fields, malformed = read(manifest("application/x-config", {
        "name": "iris", "description": "d", "author": "Ada", "model_format_name": "onnx",
        "customProperties+json": json.dumps(props)}))
    assert source == "omlmd" and malformed == []
    assert fields["name"] == "iris" and fields["authors"] == ["Ada"] and fields["format"] == "onnx"
    assert fields["metrics"] == {"accuracy": 0.93, "epochs": 5} and fields["labels"] == {"stage": "prod"}


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"text"', "[" * 100_000, "{}" + " " * MAX_EMBEDDED])
def test_omlmd_custom_properties_that_are_not_an_object_are_ignored(raw: str) -> None:
    source, fields, malformed = read(manifest("application/x-config", {"name": "m", "customProperties+json": raw}))
    assert source == "omlmd" and fields["name"] == "m" and "metrics" not in fields
    assert malformed == ["customProperties+json"]


def test_omlmd_config_document_when_annotations_say_nothing() -> None:
    _, fields, _ = read(manifest("application/x-config"), {"name": "cfg", "customProperties": {"f1": 0.5}})
    assert fields["name"] == "cfg" and fields["metrics"] == {"f1": 0.5}


def test_kitfile_from_config_and_from_annotation_read_the_same() -> None:
    from_config = read(manifest("application/vnd.kitops.modelkit.config.v1+json"), KITFILE)
    from_annotation = read(manifest(annotations={"ml.kitops.modelkit.kitfile": json.dumps(KITFILE)}))
    assert from_config[0] == from_annotation[0] == "kitops"
    assert from_config[1] == from_annotation[1]
    fields = from_config[1]
    assert (fields["name"], fields["version"], fields["licenses"], fields["authors"]) == \
        ("kit-demo", "3.1.4", ["MIT"], ["Ada"])
    assert fields["hyperparameters"] == {"lr": 0.1} and fields["datasets"] == ["train", "data/eval.csv"]


def test_kitfile_annotation_on_a_modelpack_artifact_fills_what_the_config_lacks() -> None:
    node = manifest("application/vnd.cncf.model.config.v1+json",
                    {"ml.kitops.modelkit.kitfile": json.dumps(KITFILE)}, "application/vnd.cncf.model.manifest.v1+json")
    source, fields, _ = read(node, {"descriptor": {"name": "spec-name"}, "config": {"format": "safetensors"}})
    assert source == "modelpack" and fields["name"] == "spec-name" and fields["version"] == "3.1.4"


@pytest.mark.parametrize("raw", ["x" * (MAX_EMBEDDED + 1), "{not json", "[]", json.dumps({"package": "text"}),
                                 json.dumps({"package": {"name": ["list"], "version": 3, "authors": "Ada"}})])
def test_hostile_kitfile_annotations_give_nothing(raw: str) -> None:
    source, fields, malformed = read(manifest(annotations={"ml.kitops.modelkit.kitfile": raw}))
    assert source == "kitops"
    assert not {"name", "version", "authors"} & fields.keys()
    assert malformed in ([], ["ml.kitops.modelkit.kitfile"])


def test_modctl_modelfile_annotation() -> None:
    modelfile = ("# Generated at 2025-01-01\n\n# Model name\nNAME gemma-2b\nARCH transformer\nfamily gemma\n"
                 'PARAMSIZE 2B\nPRECISION "bf 16"\nMODEL *.safetensors\nNOT A COMMAND\nNAME second\n')
    node = manifest("application/vnd.cnai.model.config.v1+json", {"org.cncf.modctl.modelfile": modelfile},
                    "application/vnd.cnai.model.manifest.v1+json")
    source, fields, _ = read(node)
    assert source == "cnai"
    assert {k: fields[k] for k in ("name", "architecture", "family", "paramSize", "precision")} == \
        {"name": "gemma-2b", "architecture": "transformer", "family": "gemma", "paramSize": "2B", "precision": "bf 16"}


def test_docker_model_config() -> None:
    config = {"config": {"format": "gguf", "quantization": "Q4_K_M", "parameters": "1.2B", "architecture": 5},
              "descriptor": {"created": "2025-01-01T00:00:00Z"}}
    source, fields, _ = read(manifest("application/vnd.docker.ai.model.config.v0.1+json"), config)
    assert source == "docker-model"
    assert fields == {"format": "gguf", "quantization": "Q4_K_M", "paramSize": "1.2B",
                      "created": "2025-01-01T00:00:00Z"}


def test_plain_oras_title_names_the_model() -> None:
    source, fields, _ = read(manifest(annotations={"org.opencontainers.image.title": "plain",
                                                   "org.opencontainers.image.version": "7"}))
    assert source == "oras" and fields["name"] == "plain" and fields["version"] == "7"


def test_model_info_types_the_fields_the_readers_found() -> None:
    node = manifest("application/vnd.kitops.modelkit.config.v1+json")
    desc = Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json", digest=digests.of_bytes(b"m"), size=1)
    info = ModelInfo.read("r", desc, node, KITFILE)
    assert info.source_format == "kitops" and info.version == "3.1.4" and info.authors == ["Ada"]
    assert info.licenses == ["MIT"] and info.parameters == {"lr": 0.1} and info.title == "demo"
    assert info.to_json()["artifactFormat"] == "kitops"
