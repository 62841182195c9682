"""Whether the `format` a model's metadata declares is one of its files' formats.

A modelpack.yaml copied from another model keeps that model's `format: joblib` beside a skops file, and
the artifact's config then tells `serve` and other tools to use the wrong loader. The files are told
apart as `init` tells them (`recognised_files`), so the two always agree. Only a mismatch we can be sure
of is reported: a declared format we cannot detect (pytorch, keras ...), or a directory holding no
model file we recognise, is trusted as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from modelpack.first_few import first_few
from modelpack.inspection.init import MODEL_FILE_KINDS, format_by_name, format_name, recognised_files
from modelpack.packing.select import LayerSource

MAX_NAMED = 3  # model files the warning names
# Other names a file of a kind answers to: a joblib dump is often saved as .pkl, and the reverse.
_ALIASES = {"pickle": ("pickle", "pkl", "joblib"), "xgboost": ("xgboost",)}
# Declared formats the files can confirm or refute. `json` is left out: many JSON model formats are
# not XGBoost's, and only XGBoost's is recognised.
CHECKED = frozenset({"safetensors", "gguf", "onnx", "skops", "pickle", "pkl", "joblib", "xgboost", "ubj", "bst"})


def format_mismatch(declared: str, sources: Iterable[LayerSource], model_dir: str | Path) -> str | None:
    """A one-line warning when `declared` names none of the model files among `sources`.

    Args:
        declared: the metadata's `format` (from modelpack.yaml or an override).
        sources: the directory's layers, as `select_layers` chose them.
        model_dir: the directory, named in the fix the warning suggests.

    Returns:
        The warning (it holds file names and the declared text: escape it before showing it), or None
        when the format matches a file, cannot be detected, or no model file is recognised.
    """
    wanted = declared.strip().lower()
    if wanted not in CHECKED:
        return None
    sources = list(sources)
    # A file named as declared settles it without reading any (a dataset of 10,000 `.json` files
    # cost ~0.1 s of reads, warm, to look for XGBoost models among them).
    if any(_answers_to(wanted, kind, s.relpath) for s in sources if not s.archive
           and (kind := format_by_name(s.relpath)) is not None):
        return None
    found = recognised_files(sources)
    held = [(kind, relpath) for kind in MODEL_FILE_KINDS for relpath, _ in found.get(kind, [])]
    if not held or any(_answers_to(wanted, kind, relpath) for kind, relpath in held):
        return None
    shown = first_few([f"{relpath} ({format_name(kind, relpath)})" for kind, relpath in held], MAX_NAMED)
    return (f"format {declared} is declared, but no model file is {declared}: the directory holds {shown}; "
            f"packed as declared (correct `format:` in modelpack.yaml; `modelpack init --print {model_dir}` "
            "shows what the files say)")


def _answers_to(wanted: str, kind: str, relpath: str) -> bool:
    """Whether a model file of `kind` at `relpath` is of the declared format `wanted`."""
    return wanted in (format_name(kind, relpath), *_ALIASES.get(kind, ()))
