"""Which files are XGBoost models, told from their names and first bytes only: `serve` chooses the file
to load by it, `init` describes a directory by it, so both agree on what an XGBoost model is.

`.ubj` and `.bst` are always XGBoost's (UBJSON, or its old binary format); a `.json` file is one only
when it begins as XGBoost writes a model. Nothing is parsed beyond those bytes, nothing loaded.
"""

from __future__ import annotations

from pathlib import Path

SUFFIXES = (".ubj", ".bst")  # always XGBoost's; a .json file is one only when its content says so
# How XGBoost writes a model as JSON: keys sorted, no spaces, so "learner" then its "attributes" come first.
_JSON_START = b'{"learner":{"attributes":'


def _is_model_json(path: Path) -> bool:
    """Whether a .json file is an XGBoost model (reads its first bytes only)."""
    try:
        with path.open("rb") as f:
            return f.read(len(_JSON_START) + 16).lstrip().startswith(_JSON_START)
    except OSError:
        return False


def is_xgboost_model(path: Path, content: Path | None = None) -> bool:
    """Whether `path` is an XGBoost model file: a `.ubj` or `.bst`, or a `.json` that
    begins as XGBoost writes a model.

    Args:
        path: a file (a `.json` one's first bytes are read).
        content: where the file's bytes are, when not at `path` (a blob in the store named `path`).

    Returns:
        True for an XGBoost model file.
    """
    suffix = path.suffix.lower()
    return suffix in SUFFIXES or (suffix == ".json" and _is_model_json(content or path))
