"""The header readers behind `init`: exact values from synthetic files, and hostile headers refused in
one line (MalformedFileError), never a traceback or a huge allocation."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

import pytest

from inspection_files import (
    GGUF_ARRAY,
    GGUF_STRING,
    FakeForestClassifier,
    gguf_bytes,
    gguf_string,
    llama_gguf,
    model_card,
    write_safetensors,
)
from modelpack.errors import MalformedFileError
from modelpack.inspection.gguf_header import read_gguf_header
from modelpack.inspection.hf_cache import snapshot_fields
from modelpack.inspection.hf_config import read_hf_config
from modelpack.inspection.model_card import read_model_card
from modelpack.inspection.onnx_header import read_onnx_header
from modelpack.inspection.param_size import format_param_count
from modelpack.inspection.pickle_classes import pickled_class
from modelpack.inspection.safetensors_header import read_safetensors_header
from modelpack.inspection.skops_schema import skops_class, skops_schema


@pytest.mark.parametrize(("count", "text"), [
    (512, "512"), (1_500, "1.5K"), (1_500_000, "1.5M"), (7_000_000_000, "7B"), (6_738_415_616, "6.7B"),
    (124_439_808, "124M"), (13_015_864_320, "13B"), (1_000_000_000_000, "1T"),
])
def test_param_count_is_written_as_models_are_named(count: int, text: str) -> None:
    assert format_param_count(count) == text


def test_safetensors_header_counts_parameters_per_dtype(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    write_safetensors(path, {"a": ("BF16", [1000, 1000]), "b": ("BF16", [500, 1000]), "c": ("F32", [10])},
                      {"BF16": 2, "F32": 4})
    summary = read_safetensors_header(path, "m.safetensors")
    assert summary.parameters == 1_500_010
    assert summary.precision == "bfloat16"
    assert dict(summary.by_dtype) == {"BF16": 1_500_000, "F32": 10}


def test_safetensors_written_by_the_library_is_read(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    from safetensors.numpy import save_file

    save_file({"w": np.zeros((3, 4), np.float16), "b": np.zeros(4, np.float16)}, str(tmp_path / "x.safetensors"))
    summary = read_safetensors_header(tmp_path / "x.safetensors", "x.safetensors")
    assert (summary.parameters, summary.precision) == (16, "float16")


def _safetensors_raw(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("data", "message"), [
    (b"\x01\x02", "truncated header"),
    (struct.pack("<Q", 2**63), "over the 100000000-byte limit"),
    (struct.pack("<Q", 1000) + b"{}", "header of 1000 bytes in a 10-byte file"),
    (struct.pack("<Q", 5) + b"nope!", "not valid JSON"),
    (struct.pack("<Q", 4) + b"[1] ", "not a JSON object"),
    (struct.pack("<Q", 20000) + b"[" * 10000 + b"]" * 10000, "nested too deep"),
])
def test_hostile_safetensors_headers_are_refused_in_one_line(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(MalformedFileError, match=message):
        read_safetensors_header(_safetensors_raw(tmp_path, data), "bad.safetensors")


@pytest.mark.parametrize(("tensor", "message"), [
    ({"dtype": "F32", "shape": [4], "data_offsets": [0, 400]}, "byte range inside the file"),
    ({"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}, "does not fill its 16 bytes"),
    ({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}, "whole numbers"),
    ({"dtype": "F32", "shape": [1] * 17, "data_offsets": [0, 4]}, "at most 16"),
    ({"dtype": ["F32"], "shape": [4], "data_offsets": [0, 16]}, "dtype"),
])
def test_safetensors_tensor_entries_that_lie_are_refused(tmp_path: Path, tensor: dict[str, object],
                                                         message: str) -> None:
    text = json.dumps({"t": tensor}).encode()
    path = _safetensors_raw(tmp_path, struct.pack("<Q", len(text)) + text + b"\0" * 16)
    with pytest.raises(MalformedFileError, match=message):
        read_safetensors_header(path, "bad.safetensors")


def test_hf_config_fields(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "torch_dtype": "float16",
        "transformers_version": "4.44.0", "quantization_config": {"quant_method": "AWQ", "bits": 4}}))
    assert read_hf_config(tmp_path / "config.json", "config.json") == {
        "family": "qwen2", "architecture": "Qwen2ForCausalLM", "precision": "float16",
        "quantization": "awq-4bit", "framework": "transformers", "labels": {"transformers.version": "4.44.0"}}
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "x\n" * 3, "architectures": 5,
                                                      "quantization_config": {"quant_method": "bitsandbytes",
                                                                              "load_in_8bit": True}}))
    assert read_hf_config(tmp_path / "config.json", "config.json") == {"quantization": "bitsandbytes-8bit"}


def test_gguf_header_architecture_quantization_and_parameters(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(llama_gguf())
    summary = read_gguf_header(tmp_path / "m.gguf", "m.gguf")
    assert summary.parameters == 1_500_000
    assert summary.fields() == {"family": "llama", "title": "Tiny Llama", "quantization": "q4_k_m"}


@pytest.mark.parametrize(("data", "message"), [
    (b"GGML" + b"\0" * 20, "no GGUF magic"),
    (b"GGUF" + struct.pack("<I", 9) + b"\0" * 16, "version 9"),
    (b"GGUF" + struct.pack("<IQQ", 3, 2**62, 0), "tensor count .* over the limit"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**40), "key/value count .* over the limit"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**62), "key length .* over the limit"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_string("k") + struct.pack("<I", 99), "type 99"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_string("k") + struct.pack("<IQ", GGUF_STRING, 10) + b"abc",
     "truncated header"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_string("k")
     + struct.pack("<IIQ", GGUF_ARRAY, 6, 2**40), "array length .* over the limit"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_string("k")
     + struct.pack("<IIQ", GGUF_ARRAY, 6, 1000), "past the end"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_string("k")
     + struct.pack("<I", GGUF_ARRAY) + struct.pack("<IQ", GGUF_ARRAY, 1) * 6, "nested too deep"),
    (gguf_bytes([], [("t", [1] * 9)]), "9 dimensions"),
    (llama_gguf()[:-30], "truncated header"),
])
def test_hostile_gguf_headers_are_refused_in_one_line(tmp_path: Path, data: bytes, message: str) -> None:
    (tmp_path / "bad.gguf").write_bytes(data)
    with pytest.raises(MalformedFileError, match=message):
        read_gguf_header(tmp_path / "bad.gguf", "bad.gguf")


def test_model_card_front_matter(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_text(model_card("license: apache-2.0\ndatasets: [squad, glue]\nbase_model: acme/base-7b\n"
                               "language: [en, fr, code]\n"))
    assert read_model_card(card, "README.md") == {
        "licenses": ["Apache-2.0"], "datasets": ["squad", "glue"], "base_model": "acme/base-7b",
        "languages": ["en", "fr"]}
    card.write_text(model_card("license: other\nlicense_name: acme-license\n"))
    assert read_model_card(card, "README.md") == {"licenses": ["acme-license"]}
    card.write_text("# no front matter\n")
    assert read_model_card(card, "README.md") == {}


@pytest.mark.parametrize(("text", "message"), [
    ("---\nlicense: mit\n", "not closed"),
    ("---\nlicense: [mit\n---\n", "not valid YAML"),
    ("---\n- a\n- b\n---\n", "not a mapping"),
    ("---\n" + "[" * 5000 + "]" * 5000 + "\n---\n", "nested too deep|not valid YAML"),
])
def test_broken_model_cards_are_refused(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "README.md").write_text(text)
    with pytest.raises(MalformedFileError, match=message):
        read_model_card(tmp_path / "README.md", "README.md")


def test_onnx_opset_and_inputs_without_the_onnx_package(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 2])],  # an initializer listed as input
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.ml", 3)])
    onnx.save(model, str(tmp_path / "m.onnx"))
    summary = read_onnx_header(tmp_path / "m.onnx", "m.onnx")
    assert (summary.opset, summary.inputs) == (17, ["x"])


@pytest.mark.parametrize(("data", "message"), [
    (b"\x3a\xff\xff\xff\xff\x0f", "past the end of the file|past its message"),
    (b"\x0f\x00", "wire type 7"),
    (b"\x08" + b"\xff" * 12, "longer than 10 bytes"),
    (b"\x42\x05\x0a\x03ab", "past its message|truncated"),
])
def test_hostile_onnx_is_refused_in_one_line(tmp_path: Path, data: bytes, message: str) -> None:
    (tmp_path / "bad.onnx").write_bytes(data)
    with pytest.raises(MalformedFileError, match=message):
        read_onnx_header(tmp_path / "bad.onnx", "bad.onnx")


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickled_class_is_named_without_unpickling(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "unpickled.txt"
    data = pickle.dumps(FakeForestClassifier(str(marker)), protocol=protocol)
    (tmp_path / "model.pkl").write_bytes(data)
    module, cls = pickled_class(tmp_path / "model.pkl", "model.pkl") or ("", "")
    assert (module, cls) == (FakeForestClassifier.__module__, "FakeForestClassifier")
    assert not marker.exists()
    pickle.loads(data)  # the marker is real: unpickling does write it
    assert marker.read_text() == "unpickled"


def test_joblib_files_compressed_or_not(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    linear_model = pytest.importorskip("sklearn.linear_model")
    estimator = linear_model.LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    for compress in (0, 3, "gzip", "bz2", "xz"):
        path = tmp_path / f"m-{compress}.joblib"
        joblib.dump(estimator, path, compress=compress)
        assert pickled_class(path, path.name) == ("sklearn.linear_model._logistic", "LogisticRegression")


def test_not_a_pickle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.pkl").write_bytes(b"\xfe\xfe this is no pickle")
    with pytest.raises(MalformedFileError, match="not a pickle"):
        pickled_class(tmp_path / "x.pkl", "x.pkl")


def test_skops_class_from_its_schema(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "m.skops", "w") as archive:
        archive.writestr("schema.json", json.dumps({"__class__": "RandomForestClassifier",
                                                    "__module__": "sklearn.ensemble._forest"}))
    schema = skops_schema(tmp_path / "m.skops", "m.skops")
    assert skops_class(schema) == ("sklearn.ensemble._forest", "RandomForestClassifier")
    (tmp_path / "bad.skops").write_bytes(b"PK not really")
    with pytest.raises(MalformedFileError, match="not a skops file"):
        skops_schema(tmp_path / "bad.skops", "bad.skops")


def test_hf_cache_snapshot_path(tmp_path: Path) -> None:
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "models--acme--tiny-bert" / "snapshots" / revision
    assert snapshot_fields(snapshot) == {"name": "tiny-bert", "vendor": "acme", "revision": revision,
                                         "sourceURL": "https://huggingface.co/acme/tiny-bert"}
    assert snapshot_fields(tmp_path / "plain") == {}
