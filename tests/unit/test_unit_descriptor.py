"""parse_manifest (manifest vs index, size cap, bad JSON) and canonical_bytes stability."""

from __future__ import annotations

import json
import re

import pytest

from modelpack.errors import IntegrityError, ModelpackError, UnsupportedArtifactError
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import (
    MAX_MANIFEST_BYTES,
    Descriptor,
    Index,
    InvalidDocument,
    Manifest,
    json_bytes,
    parse_manifest,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def manifest_dict(**extra: object) -> dict:
    value = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": mt.MODEL_ARTIFACT,
        "config": {"mediaType": mt.MODEL_CONFIG, "digest": D1, "size": 10},
        "layers": [
            {
                "mediaType": "application/vnd.cncf.model.weight.v1.raw",
                "digest": D2,
                "size": 123,
                "annotations": {mt.A_FILEPATH: "model.safetensors"},
            }
        ],
        "annotations": {mt.A_TITLE: "iris"},
    }
    value.update(extra)
    return value


def test_parse_manifest_returns_manifest_with_fields() -> None:
    node = parse_manifest(json.dumps(manifest_dict()).encode())
    assert isinstance(node, Manifest)
    assert node.artifact_type == mt.MODEL_ARTIFACT
    assert node.config.digest == D1
    assert node.config.size == 10
    assert [layer.digest for layer in node.layers] == [D2]
    assert node.layers[0].annotation("missing", mt.A_FILEPATH) == "model.safetensors"
    assert node.annotations == {mt.A_TITLE: "iris"}


def test_manifest_without_media_type_is_an_oci_manifest() -> None:
    raw = manifest_dict()
    del raw["mediaType"]
    node = parse_manifest(json.dumps(raw).encode())
    assert isinstance(node, Manifest)
    assert node.media_type == mt.OCI_MANIFEST


def test_docker_manifest_keeps_its_media_type() -> None:
    node = parse_manifest(json.dumps(manifest_dict(mediaType=mt.DOCKER_MANIFEST)).encode())
    assert isinstance(node, Manifest)
    assert node.media_type == mt.DOCKER_MANIFEST


INDEX = {
    "schemaVersion": 2,
    "mediaType": mt.OCI_INDEX,
    "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": D1, "size": 5, "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": mt.OCI_MANIFEST, "digest": D2, "size": 6},
    ],
}


def test_parse_index() -> None:
    node = parse_manifest(json.dumps(INDEX).encode())
    assert isinstance(node, Index)
    assert [m.digest for m in node.manifests] == [D1, D2]
    assert node.manifests[0].platform is not None
    assert node.manifests[0].platform.architecture == "amd64"


def test_docker_manifest_list_is_an_index() -> None:
    raw = dict(INDEX, mediaType=mt.DOCKER_MANIFEST_LIST)
    assert isinstance(parse_manifest(json.dumps(raw).encode()), Index)


def test_manifests_without_config_and_without_media_type_is_an_index() -> None:
    raw = {k: v for k, v in INDEX.items() if k != "mediaType"}
    node = parse_manifest(json.dumps(raw).encode())
    assert isinstance(node, Index)
    assert node.media_type == mt.OCI_INDEX


def test_a_well_formed_document_of_another_media_type_is_unsupported() -> None:
    with pytest.raises(UnsupportedArtifactError):
        parse_manifest(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example+json",
                                   "layers": []}).encode())


@pytest.mark.parametrize(("raw", "message"), [
    ({"schemaVersion": 2}, "no mediaType, and neither config nor manifests"),
    ({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "layers": []}, "config: field required"),
    ({"schemaVersion": 2, "mediaType": 7}, "mediaType: must be a string"),
])
def test_a_document_missing_what_makes_it_a_manifest_is_malformed(raw: dict, message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        parse_manifest(json.dumps(raw).encode())


@pytest.mark.parametrize("size", [-1, 2**53 + 1, 10**30])
def test_a_size_outside_0_to_2_to_the_53_is_malformed(size: int) -> None:
    with pytest.raises(InvalidDocument, match="size"):
        Descriptor(mediaType="x", digest="sha256:" + "0" * 64, size=size)


@pytest.mark.parametrize("data", [b"", b"{", b"not json", b'{"a":}', b"\xff\xfe\x00garbage"])
def test_invalid_json_is_an_integrity_error(data: bytes) -> None:
    with pytest.raises(IntegrityError, match="not valid JSON"):
        parse_manifest(data)


@pytest.mark.parametrize("data", [b"[]", b"1", b'"manifest"', b"null"])
def test_json_that_is_not_an_object_is_an_integrity_error(data: bytes) -> None:
    with pytest.raises(IntegrityError, match="not a JSON object"):
        parse_manifest(data)


def test_size_cap() -> None:
    body = json.dumps(manifest_dict()).encode()
    at_limit = body + b" " * (MAX_MANIFEST_BYTES - len(body))
    assert len(at_limit) == MAX_MANIFEST_BYTES
    assert isinstance(parse_manifest(at_limit), Manifest)
    with pytest.raises(IntegrityError, match="limit"):
        parse_manifest(at_limit + b" ")


def test_deeply_nested_json_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError):
        parse_manifest(b"[" * 200_000)


@pytest.mark.parametrize(
    "raw",
    [
        manifest_dict(config={"mediaType": mt.MODEL_CONFIG, "digest": "sha256:bad", "size": 1}),
        manifest_dict(config={"mediaType": mt.MODEL_CONFIG, "digest": D1}),
        manifest_dict(config=5),
        manifest_dict(layers=[{"mediaType": "x", "digest": D2, "size": -1}]),
    ],
)
def test_schema_invalid_manifest_raises_a_modelpack_error(raw: dict) -> None:
    with pytest.raises(ModelpackError):
        parse_manifest(json.dumps(raw).encode())


# --- canonical bytes ------------------------------------------------------------------------------------


def test_canonical_bytes_golden() -> None:
    node = parse_manifest(json.dumps(manifest_dict()).encode())
    assert node.canonical_bytes() == (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        b'"artifactType":"application/vnd.cncf.model.manifest.v1+json",'
        b'"config":{"mediaType":"application/vnd.cncf.model.config.v1+json","digest":"' + D1.encode() + b'",'
        b'"size":10},"layers":[{"mediaType":"application/vnd.cncf.model.weight.v1.raw","digest":"'
        + D2.encode()
        + b'","size":123,"annotations":{"org.cncf.model.filepath":"model.safetensors"}}],'
        b'"annotations":{"org.opencontainers.image.title":"iris"}}'
    )


def test_canonical_bytes_do_not_depend_on_input_key_order_or_whitespace() -> None:
    raw = manifest_dict()
    reordered = dict(reversed(list(raw.items())))
    reordered["config"] = dict(reversed(list(raw["config"].items())))
    a = parse_manifest(json.dumps(raw).encode()).canonical_bytes()
    b = parse_manifest(json.dumps(reordered, indent=4).encode()).canonical_bytes()
    assert a == b


def test_canonical_bytes_are_a_fixed_point() -> None:
    for raw in (manifest_dict(), INDEX):
        first = parse_manifest(json.dumps(raw).encode()).canonical_bytes()
        assert parse_manifest(first).canonical_bytes() == first
        assert json.loads(first) == json.loads(json.dumps(raw))


def test_canonical_bytes_keep_unknown_fields_and_utf8() -> None:
    raw = manifest_dict(annotations={mt.A_DESCRIPTION: "modèle – 模型"}, futureField={"x": 1})
    out = parse_manifest(json.dumps(raw).encode()).canonical_bytes()
    assert "modèle – 模型".encode() in out
    assert b"\\u" not in out
    assert json.loads(out)["futureField"] == {"x": 1}


def test_canonical_bytes_leave_out_absent_optional_fields() -> None:
    node = Manifest(config=Descriptor(mediaType=mt.OCI_EMPTY, digest=D3, size=2))
    out = json.loads(node.canonical_bytes())
    assert out == {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": D3, "size": 2},
        "layers": [],
    }


def test_descriptor_to_json_and_annotation_lookup_order() -> None:
    desc = Descriptor(mediaType="m", digest=D1, size=0, annotations={"b": "2", "a": "1"})
    assert desc.to_json() == {"mediaType": "m", "digest": D1, "size": 0, "annotations": {"b": "2", "a": "1"}}
    assert desc.annotation("a", "b") == "1"
    assert desc.annotation("b", "a") == "2"
    assert desc.annotation("c") is None
    assert Descriptor(mediaType="m", digest=D1, size=0).annotation("a") is None


def test_descriptor_rejects_bad_digest_and_negative_size() -> None:
    with pytest.raises(ValueError):
        Descriptor(mediaType="m", digest="sha256:nope", size=1)
    with pytest.raises(ValueError):
        Descriptor(mediaType="m", digest=D1, size=-1)


def test_models_are_frozen() -> None:
    desc = Descriptor(mediaType="m", digest=D1, size=0)
    with pytest.raises(AttributeError):
        desc.size = 5  # type: ignore[misc]
    assert desc.replace(size=5).size == 5
    assert desc.size == 0


def test_json_bytes_is_compact_and_utf8() -> None:
    assert json_bytes({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'.encode()


def test_replace_checks_the_changed_fields_and_keeps_unknown_ones() -> None:
    desc = Descriptor.from_json({"mediaType": "m", "digest": D1, "size": 1, "data": "e30="})
    moved = desc.replace(size=2, annotations={"k": "v"})
    assert moved.to_json() == {"mediaType": "m", "digest": D1, "size": 2, "annotations": {"k": "v"}, "data": "e30="}
    assert desc.size == 1
    with pytest.raises(ValueError):
        desc.replace(digest="sha256:short")


def test_equality_and_hash_follow_the_json() -> None:
    a = Descriptor(mediaType="m", digest=D1, size=1)
    b = Descriptor.from_json({"size": 1, "digest": D1, "mediaType": "m"})
    assert a == b and hash(a) == hash(b)
    assert a != a.replace(size=2)
    assert a != Manifest(config=a)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (manifest_dict(layers=[{"mediaType": "x", "digest": D2, "size": True}]), "layers.0.size"),
        (manifest_dict(layers=[{"mediaType": "x", "digest": D2, "size": "12"}]), "layers.0.size"),
        (manifest_dict(annotations={"a": 1}), "annotations.a"),
        (manifest_dict(layers={"mediaType": "x"}), "layers"),
        (manifest_dict(config={"digest": D1, "size": 1}), "config.mediaType"),
        (manifest_dict(subject=[]), "subject"),
    ],
)
def test_malformed_fields_are_named_in_the_error(raw: dict, where: str) -> None:
    with pytest.raises(IntegrityError, match=re.escape(f"malformed manifest: {where}:")):
        parse_manifest(json.dumps(raw).encode())


def test_attribute_and_json_names_are_one_field() -> None:
    desc = Descriptor(mediaType="a", media_type="b", digest=D1, size=0)
    assert desc.media_type == "a"
    assert desc.to_json() == {"mediaType": "a", "digest": D1, "size": 0}
    assert Descriptor(media_type="m", digest=D1, size=0) == Descriptor(mediaType="m", digest=D1, size=0)


def test_null_required_fields_are_refused() -> None:
    with pytest.raises(IntegrityError, match="config: field required"):
        parse_manifest(json.dumps(manifest_dict(config=None)).encode())
    with pytest.raises(IntegrityError, match=r"layers\.0\.digest: field required"):
        parse_manifest(json.dumps(manifest_dict(layers=[{"mediaType": "x", "digest": None, "size": 1}])).encode())


def test_replace_takes_json_names_too() -> None:
    desc = Descriptor(mediaType="m", digest=D1, size=0)
    assert desc.replace(mediaType="n", artifactType="t").to_json() == {
        "mediaType": "n", "digest": D1, "size": 0, "artifactType": "t"}
