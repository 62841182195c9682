"""Default layer kinds from file names; `files.kinds` in modelpack.yaml overrides them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.inspection.xgboost_file import SUFFIXES as XGBOOST_SUFFIXES
from modelpack.inspection.xgboost_file import is_xgboost_model
from modelpack.oci.mediatypes import Kind
from modelpack.packing.globs import first_match

if TYPE_CHECKING:  # only annotations: restoring a pulled model's modelpack.yaml needs no pydantic
    from modelpack.packing.rules import FileSelection

WEIGHT_SUFFIXES = frozenset({
    ".safetensors", ".bin", ".pt", ".pth", ".onnx", ".gguf", ".ggml", ".joblib", ".skops", ".pkl", ".pickle",
    ".h5", ".hdf5", ".keras", ".tflite", ".ckpt", ".msgpack", ".npz", ".npy", ".pb", ".mlmodel", ".params",
    ".mar", ".engine", ".plan", ".xgb", ".ubj", ".cbm", ".lgb", ".pdparams", ".ot", ".mlpackage",
})
WEIGHT_CONFIG_NAMES = frozenset({
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt",
    "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "preprocessor_config.json",
    "processor_config.json", "chat_template.jinja", "chat_template.json", "params.json",
    "adapter_config.json", "feature_extractor_config.json", "image_processor_config.json",
})
DOC_SUFFIXES = frozenset({".md", ".rst", ".pdf", ".html", ".adoc"})
DOC_STEMS = frozenset({"readme", "license", "licence", "notice", "copying", "authors", "changelog",
                       "model_card", "modelcard", "citation", "use_policy"})
CODE_SUFFIXES = frozenset({".py", ".ipynb", ".sh", ".js", ".ts", ".go", ".rs", ".c", ".cc", ".cpp", ".h",
                           ".java", ".r", ".jl", ".lua", ".ps1"})
CODE_NAMES = frozenset({"dockerfile", "makefile", "pyproject.toml", "setup.cfg", "environment.yml",
                        "environment.yaml", "conda.yaml", "pipfile", "pipfile.lock", "mlproject"})
DATASET_SUFFIXES = frozenset({".csv", ".tsv", ".parquet", ".jsonl", ".arrow", ".feather", ".avro",
                              ".tfrecord", ".libsvm"})
CONFIG_SUFFIXES = frozenset({".json", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".jinja"})


def default_kind(relpath: str, root: Path | None = None) -> tuple[Kind, bool]:
    """The kind a file's name (and, for a `.json`, its first bytes) implies.

    Args:
        relpath: the file's path in the model (posix, relative).
        root: the model directory holding it; without it a `.json` is judged by its name alone.

    Returns:
        (kind, certain): `certain` is False when we fell back to a guess (annotated as untested).
    """
    name = relpath.rsplit("/", 1)[-1].lower()  # string operations: a PurePosixPath per file cost 2 s for 100,000
    dot = name.rfind(".")
    suffix = name[dot:] if 0 < dot < len(name) - 1 else ""  # as PurePosixPath.suffix
    stem = name.split(".", 1)[0]
    if name in WEIGHT_CONFIG_NAMES or name.endswith(".index.json"):
        return "weight.config", True
    if suffix in WEIGHT_SUFFIXES or suffix in XGBOOST_SUFFIXES:
        return "weight", True
    # Only a .json needs reading (its first bytes): an XGBoost model saved as JSON is the model's weights.
    if suffix == ".json" and root is not None and is_xgboost_model(root / relpath):
        return "weight", True
    if stem in DOC_STEMS or suffix in DOC_SUFFIXES:
        return "doc", True
    if suffix in CODE_SUFFIXES or name in CODE_NAMES or (name.startswith("requirements") and suffix == ".txt"):
        return "code", True
    if suffix in DATASET_SUFFIXES:
        return "dataset", True
    if suffix in CONFIG_SUFFIXES:
        return "weight.config", False
    return "weight", False


def classify(relpath: str, rules: FileSelection, root: Path | None = None) -> tuple[Kind, bool]:
    """Kind of a file: the first matching `files.kinds` glob wins, else the default.

    Args:
        relpath: the file's path in the model (posix, relative).
        rules: the `files` section of modelpack.yaml.
        root: the model directory holding it (see `default_kind`); None judges by the name alone.

    Returns:
        (kind, certain), as `default_kind`.
    """
    pattern = first_match(rules.kinds, relpath)
    if pattern is not None:
        return rules.kinds[pattern], True
    return default_kind(relpath, root)


def classify_folder(folder: str, files: list[str], rules: FileSelection, root: Path | None = None) -> tuple[Kind, bool]:
    """Kind of a folder packed as one archive: a `files.kinds` match on the folder, else the kind its
    files (below `root`, when given) agree on; a mixed folder holding weights is a weight layer, any
    other mix is untested."""
    pattern = first_match(rules.kinds, folder)
    if pattern is not None:
        return rules.kinds[pattern], True
    kinds = [classify(f, rules, root) for f in files]
    certain = {kind for kind, sure in kinds if sure}
    if len(certain) == 1:
        return certain.pop(), all(sure for _, sure in kinds)
    if "weight" in certain:
        return "weight", False
    return (kinds[0][0] if kinds else "weight"), False
