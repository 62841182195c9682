"""`modelpack init`: modelpack.yaml from synthetic files, through the real CLI, then packed and pushed to
the real registry."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

from helpers import modelpack
from inspection_files import FakeForestClassifier, llama_gguf, model_card, write_safetensors
from modelpack.metadata.load import load_metadata
from registry_process import Registry

REVISION = "0123456789abcdef0123456789abcdef01234567"


def make_llm(root: Path) -> Path:
    """safetensors shards (1,500,000 bf16 + 10 f32 parameters), config.json and a model card."""
    root.mkdir(parents=True)
    write_safetensors(root / "model-00001-of-00002.safetensors", {"embed": ("BF16", [1000, 1000])},
                      {"BF16": 2})
    write_safetensors(root / "model-00002-of-00002.safetensors",
                      {"lm_head": ("BF16", [500, 1000]), "norm": ("F32", [10])}, {"BF16": 2, "F32": 4})
    (root / "config.json").write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "torch_dtype": "float16",
        "transformers_version": "4.44.0", "quantization_config": {"quant_method": "gptq", "bits": 4}}))
    (root / "README.md").write_text(model_card(
        "license: apache-2.0\ndatasets:\n- acme/instructions\nbase_model: acme/base-model\nlanguage:\n- en\n- de\n"))
    return root


def test_init_writes_the_fields_the_files_state(tmp_path: Path) -> None:
    model = make_llm(tmp_path / "tiny-llm")
    result = modelpack("init", str(model))
    assert result.code == 0, result.err
    assert "wrote" in result.err and result.out == ""
    meta = load_metadata(model, use_git=False)  # the loader pack uses
    assert meta.name == "tiny-llm"
    assert (meta.format, meta.param_size, meta.precision) == ("safetensors", "1.5M", "bfloat16")
    assert (meta.family, meta.architecture, meta.quantization, meta.framework) == (
        "llama", "LlamaForCausalLM", "gptq-4bit", "transformers")
    assert meta.licenses == ["Apache-2.0"] and meta.datasets == ["acme/instructions"]
    # A Hugging Face id names no registry: as parent, `lineage` would refuse it (exit 6), so it is a label.
    assert meta.parent is None and meta.labels == {"baseModel": "acme/base-model", "transformers.version": "4.44.0"}
    assert "note: README.md: base_model 'acme/base-model' names no registry (a Hugging Face id?)" in result.err
    assert meta.capabilities is not None and meta.capabilities.languages == ["en", "de"]
    assert (model / "modelpack.yaml").read_text().startswith(
        "# Written by `modelpack init` from 2 safetensors files, config.json, README.md.")


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    model = make_llm(tmp_path / "m")
    (model / "modelpack.yaml").write_text("name: mine\n")
    refused = modelpack("init", str(model))
    assert refused.code == 2
    assert refused.err.startswith("error: ") and "exists: nothing written" in refused.err
    assert (model / "modelpack.yaml").read_text() == "name: mine\n"
    forced = modelpack("init", "--force", str(model))
    assert forced.code == 0, forced.err
    assert "paramSize: 1.5M" in (model / "modelpack.yaml").read_text()
    assert not [p for p in os.listdir(model) if p.startswith(".modelpack.yaml.")]


def test_init_print_writes_to_stdout_only(tmp_path: Path) -> None:
    model = make_llm(tmp_path / "m")
    (model / "modelpack.yaml").write_text("name: mine\n")
    printed = modelpack("init", "--print", str(model))
    assert printed.code == 0, printed.err
    assert "paramSize: 1.5M\n" in printed.out and "family: llama\n" in printed.out
    assert (model / "modelpack.yaml").read_text() == "name: mine\n"


def test_a_file_name_in_the_sources_comment_adds_no_key_and_no_control_character(tmp_path: Path) -> None:
    # A downloaded or pulled model's file names are anyone's: a newline in one must not end the comment.
    model = tmp_path / "m"
    model.mkdir()
    write_safetensors(model / "w\nversion: 6.6.6\n#\x1b]0;pwned\x07.safetensors",
                      {"w": ("F32", [2])}, {"F32": 4})
    result = modelpack("init", str(model))
    assert result.code == 0, result.err
    text = (model / "modelpack.yaml").read_text()
    assert load_metadata(model, use_git=False).version is None
    assert text.splitlines()[0] == ("# Written by `modelpack init` from "
                                    "w\\nversion: 6.6.6\\n#\\x1b]0;pwned\\x07.safetensors.")
    assert "\x1b" not in text and "\x07" not in text


def test_init_on_a_hugging_face_cache_snapshot(tmp_path: Path) -> None:
    repo = tmp_path / "hub" / "models--acme--tiny-gguf"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "b1").write_bytes(llama_gguf())
    snapshot = repo / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    (snapshot / "tiny.Q4_K_M.gguf").symlink_to(Path("../../blobs/b1"))
    result = modelpack("init", "--print", str(snapshot))
    assert result.code == 0, result.err
    written = modelpack("init", str(snapshot))
    assert written.code == 0, written.err
    meta = load_metadata(snapshot, use_git=False)
    assert (meta.name, meta.vendor, meta.revision) == ("tiny-gguf", "acme", REVISION)
    assert meta.source_url == "https://huggingface.co/acme/tiny-gguf"
    assert (meta.format, meta.family, meta.title, meta.quantization, meta.param_size) == (
        "gguf", "llama", "Tiny Llama", "q4_k_m", "1.5M")


def test_init_names_a_pickled_estimator_without_unpickling(tmp_path: Path) -> None:
    model = tmp_path / "clf"
    model.mkdir()
    marker = tmp_path / "unpickled.txt"
    (model / "model.joblib").write_bytes(pickle.dumps(FakeForestClassifier(str(marker)), protocol=5))
    result = modelpack("init", str(model))
    assert result.code == 0, result.err
    meta = load_metadata(model, use_git=False)
    assert (meta.architecture, meta.format) == ("FakeForestClassifier", "joblib")
    assert meta.framework is None  # not a scikit-learn module
    assert not marker.exists()


def test_malformed_header_is_one_line_and_exit_2(tmp_path: Path) -> None:
    model = tmp_path / "bad"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\xff" * 8 + b"{}")
    result = modelpack("init", str(model))
    assert result.code == 2
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert result.err.startswith("error: model.safetensors: safetensors header of ")
    assert not (model / "modelpack.yaml").exists()


def test_base_model_that_names_a_registry_becomes_the_parent(tmp_path: Path) -> None:
    model = make_llm(tmp_path / "m")
    (model / "README.md").write_text(model_card("base_model: registry.example.com/acme/base:1\n"))
    assert modelpack("init", str(model)).code == 0
    assert load_metadata(model, use_git=False).parent == "registry.example.com/acme/base:1"


def test_base_model_that_is_no_reference_becomes_a_label(tmp_path: Path) -> None:
    model = make_llm(tmp_path / "m")
    (model / "README.md").write_text(model_card("base_model: Acme/Base-Model\n"))
    result = modelpack("init", str(model))
    assert result.code == 0, result.err
    assert "note: README.md: base_model 'Acme/Base-Model' is not a valid reference" in result.err
    meta = load_metadata(model, use_git=False)
    assert meta.parent is None and meta.labels["baseModel"] == "Acme/Base-Model"


def test_init_then_push_and_pack(registry: Registry, tmp_path: Path) -> None:
    model = make_llm(tmp_path / "tiny-llm")
    assert modelpack("init", str(model)).code == 0
    ref = registry.repo() + ":1.0"
    pushed = modelpack("push", "--plain-http", str(model), ref)
    assert pushed.code == 0, pushed.err
    shown = modelpack("inspect", "--remote", "--plain-http", "--json", ref)
    assert shown.code == 0, shown.err
    metadata = json.loads(shown.out)["metadata"]
    assert metadata["name"] == "tiny-llm" and metadata["paramSize"] == "1.5M"
    assert (metadata["family"], metadata["precision"]) == ("llama", "bfloat16")
    assert "parent" not in metadata
    assert metadata["labels"] == {"baseModel": "acme/base-model", "transformers.version": "4.44.0"}
    # What init wrote, lineage reads (a parent naming no registry was exit 6, "names no registry").
    lineage = modelpack("lineage", "--plain-http", ref)
    assert lineage.code == 0 and lineage.err == "", lineage.err
    packed = modelpack("pack", str(model), "-t", registry.repo() + ":packed")
    assert packed.code == 0, packed.err
