"""Glob conventions for file rules, and default layer kinds from file names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpack.metadata.schema import FileRules
from modelpack.packing.classify import classify, classify_folder, default_kind
from modelpack.packing.globs import first_match, matches

SETTINGS = settings(database=None, deadline=None, max_examples=100)

# --- globs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        # a pattern without '/' matches the base name anywhere
        ("*.bin", "a.bin", True),
        ("*.bin", "x/y/a.bin", True),
        ("*.bin", "a.bin.txt", False),
        ("*.bin", "a.binx", False),
        ("model.onnx", "deep/er/model.onnx", True),
        ("model.onnx", "model.onnx.bak", False),
        # '*' stays inside one segment
        ("m*/x.bin", "model/x.bin", True),
        ("m*/x.bin", "m/a/x.bin", False),
        ("models/*.bin", "models/a.bin", True),
        ("models/*.bin", "models/sub/a.bin", False),
        ("models/*.bin", "other/models/a.bin", False),
        # '**' crosses segments
        ("m**/x.bin", "m/a/x.bin", True),
        ("models/**/*.bin", "models/a.bin", True),
        ("models/**/*.bin", "models/x/y/a.bin", True),
        ("models/**/*.bin", "models/x/y/a.txt", False),
        ("**/*.bin", "a.bin", True),
        ("**/*.bin", "x/y/a.bin", True),
        ("a/**", "a/b/c/d", True),
        ("a/**", "b/a/c", False),
        ("a/**/z", "a/z", True),
        ("a/**/z", "a/b/c/z", True),
        # a pattern naming a folder matches everything below it
        ("docs", "docs/guide.md", True),
        ("docs", "docs/deep/er/x.png", True),
        ("docs", "a/docs/x.md", True),
        ("docs/", "docs/guide.md", True),
        ("docs", "docsite/x.md", False),
        ("data/raw", "data/raw/x.csv", True),
        ("data/raw", "data/raw/sub/y.csv", True),
        ("data/raw", "data/rawfile", False),
        ("data/raw", "x/data/raw/y.csv", False),
        ("src/*", "src/a/b.py", True),
        # '?' is one character, not '/'
        ("a?c.txt", "abc.txt", True),
        ("a?c.txt", "ac.txt", False),
        ("x/a?c", "x/a/c", False),
        # character classes
        ("[ab].bin", "a.bin", True),
        ("[ab].bin", "c.bin", False),
        ("[!ab].bin", "c.bin", True),
        ("[!ab].bin", "a.bin", False),
        ("shard-[0-9].bin", "shard-7.bin", True),
        ("shard-[0-9].bin", "shard-x.bin", False),
        # regex metacharacters are literal
        ("a+b(1).bin", "a+b(1).bin", True),
        ("a+b(1).bin", "aab1.bin", False),
        ("a.bin", "axbin", False),
        ("[unclosed", "[unclosed", True),
        # surrounding space and a leading './' are ignored
        (" *.bin ", "a.bin", True),
        ("./models/*.bin", "models/a.bin", True),
        # case sensitive
        ("*.BIN", "a.bin", False),
        # a name may hold a newline (or any byte but '/' and NUL): '**' crosses it as '*' does
        ("sub/**", "sub/new\nline.bin", True),
        ("a/**/z", "a/x\ny/z", True),
        ("**", "new\nline", True),
        ("*.bin", "new\nline.bin", True),
    ],
)
def test_matches(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


def test_first_match_returns_the_first_matching_pattern_in_order() -> None:
    assert first_match(["*.txt", "*.bin", "model.*"], "model.bin") == "*.bin"
    assert first_match(["model.*", "*.bin"], "model.bin") == "model.*"
    assert first_match(["*.txt"], "model.bin") is None
    assert first_match([], "model.bin") is None


@pytest.mark.parametrize("pattern", ["x[].bin", "[!]"])
def test_empty_bracket_is_not_a_crash(pattern: str) -> None:
    assert matches(pattern, "x[].bin") is (pattern == "x[].bin")


_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..")
)


@SETTINGS
@given(st.lists(_segment, min_size=1, max_size=5))
def test_property_literal_name_matches_itself_at_any_depth(parts: list[str]) -> None:
    path = "/".join(parts)
    assert matches(parts[-1], path)
    assert matches(path, path)
    assert matches("**", path)
    assert matches("*", path)


@SETTINGS
@given(st.lists(_segment, min_size=2, max_size=5), st.integers(1, 4))
def test_property_folder_pattern_matches_everything_below(parts: list[str], depth: int) -> None:
    depth = min(depth, len(parts) - 1)
    folder = "/".join(parts[:depth])
    assert matches(folder, "/".join(parts))
    assert matches(folder + "/", "/".join(parts))
    # '~' occurs in no generated segment, so a sibling folder name matches nothing here
    assert not matches(folder + "~", "/".join(parts))


# --- default kinds --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("model.safetensors", "weight"),
        ("pytorch_model.bin", "weight"),
        ("model.onnx", "weight"),
        ("model.gguf", "weight"),
        ("model.joblib", "weight"),
        ("clf.skops", "weight"),
        ("m.pkl", "weight"),
        ("m.h5", "weight"),
        ("m.keras", "weight"),
        ("m.tflite", "weight"),
        ("m.ckpt", "weight"),
        ("m.pt", "weight"),
        ("m.pth", "weight"),
        ("shards/model-00001-of-00002.safetensors", "weight"),
        ("M.SAFETENSORS", "weight"),
        ("config.json", "weight.config"),
        ("generation_config.json", "weight.config"),
        ("tokenizer.json", "weight.config"),
        ("tokenizer_config.json", "weight.config"),
        ("special_tokens_map.json", "weight.config"),
        ("vocab.txt", "weight.config"),
        ("merges.txt", "weight.config"),
        ("tokenizer.model", "weight.config"),
        ("model.safetensors.index.json", "weight.config"),
        ("sub/config.json", "weight.config"),
        ("README.md", "doc"),
        ("LICENSE", "doc"),
        ("docs/guide.md", "doc"),
        ("readme.txt", "doc"),
        ("train.py", "code"),
        ("requirements.txt", "code"),
        ("requirements-dev.txt", "code"),
        ("Dockerfile", "code"),
        ("data/x.csv", "dataset"),
        ("x.parquet", "dataset"),
        ("data/train.jsonl", "dataset"),
    ],
)
def test_default_kind_certain(path: str, kind: str) -> None:
    assert default_kind(path) == (kind, True)
    assert classify(path, FileRules()) == (kind, True)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("unknown.xyz", "weight"),
        ("noext", "weight"),
        ("settings.yaml", "weight.config"),
        ("notes.txt", "weight.config"),
    ],
)
def test_default_kind_guesses_are_not_certain(path: str, kind: str) -> None:
    assert default_kind(path) == (kind, False)


def test_files_kinds_override_defaults_and_make_them_certain() -> None:
    rules = FileRules(kinds={"*.bin": "dataset", "unknown.*": "doc", "data/**": "weight"})
    assert classify("pytorch_model.bin", rules) == ("dataset", True)
    assert classify("unknown.xyz", rules) == ("doc", True)
    assert classify("data/x.csv", rules) == ("weight", True)
    # paths no rule matches keep their default
    assert classify("README.md", rules) == ("doc", True)
    assert classify("other.xyz", rules) == ("weight", False)


def test_first_matching_kind_rule_wins() -> None:
    assert classify("eval/x.csv", FileRules(kinds={"eval/**": "code", "*.csv": "doc"})) == ("code", True)
    assert classify("eval/x.csv", FileRules(kinds={"*.csv": "doc", "eval/**": "code"})) == ("doc", True)


def test_file_rules_refuse_unknown_kinds() -> None:
    with pytest.raises(ValueError):
        FileRules(kinds={"*.bin": "weights"})  # type: ignore[dict-item]


def test_classify_folder() -> None:
    rules = FileRules()
    assert classify_folder("shards", ["shards/a.safetensors", "shards/b.safetensors"], rules) == ("weight", True)
    assert classify_folder("docs", ["docs/a.md", "docs/b.md"], rules) == ("doc", True)
    # a weight among other kinds makes a weight layer, flagged as a guess
    assert classify_folder("mix", ["mix/a.safetensors", "mix/b.md"], rules) == ("weight", False)
    # a rule on the folder itself wins
    assert classify_folder("mix", ["mix/a.safetensors"], FileRules(kinds={"mix": "dataset"})) == ("dataset", True)


@pytest.mark.parametrize(("relpath", "expected"), [
    ("w/MODEL.SafeTensors", ("weight", True)),
    ("w/.safetensors", ("weight", False)),  # a hidden file's name has no suffix, as PurePosixPath says
    ("w/model.safetensors.", ("weight", False)),
    ("a.b/notes", ("weight", False)),  # a dot in a folder's name is no suffix
    ("a/data.tar.csv", ("dataset", True)),
])
def test_a_kind_from_the_last_suffix_of_the_name(relpath: str, expected: tuple[str, bool]) -> None:
    assert default_kind(relpath) == expected


def test_a_file_in_two_listed_archives_goes_to_the_one_listed_first(tmp_path: Path) -> None:
    from modelpack.packing.select import select_layers

    for rel in ("data/a/x.csv", "data/b/y.csv", "other/z.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("1\n")
    layers = select_layers(tmp_path, FileRules(archives=["data/a", "data", "data/a"]))
    owned = {layer.relpath: [f.relpath for f in layer.files if not f.is_dir] for layer in layers}
    assert owned == {"data": ["data/b/y.csv"], "data/a": ["data/a/x.csv"], "other/z.csv": ["other/z.csv"]}
