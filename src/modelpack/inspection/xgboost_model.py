"""What an XGBoost model file says about the model: its booster (the architecture), objective, number of
features and classes, and the XGBoost version that saved it, read from the JSON or UBJSON document
XGBoost writes, never loaded by XGBoost.

A `.ubj` is read by the bounded reader in `ubjson` (the trees are skipped by seeking, so memory does not
grow with the model); a `.json` is parsed whole by the guarded JSON parser, up to MAX_JSON_BYTES. A `.bst`
is read as a `.ubj` when it is UBJSON: since 2.1 XGBoost writes UBJSON under any name but `.json`
(`save_model("model.bst")`, the name KServe's XGBoost runtime loads), and 3.x writes nothing else. Only
a `.bst` in XGBoost's old binary format (before 2.1: no UBJSON object, `{`, first) is not read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelpack.inspection.reading import parse_json, short_text
from modelpack.inspection.ubjson import read_ubjson
from modelpack.oci import jsontext

MAX_JSON_BYTES = 16 * 1024 * 1024  # a larger .json model is described by its name only (a note says so)
# The parts of the document read: keys sorted as XGBoost writes them, the trees between them skipped.
WANT = {"learner": {"attributes": {"scikit_learn": True}, "gradient_booster": {"name": True},
                    "learner_model_param": {"num_class": True, "num_feature": True},
                    "objective": {"name": True}},
        "version": True}


def read_xgboost_model(path: Path, relpath: str) -> tuple[dict[str, Any], str | None]:
    """The metadata fields an XGBoost model file gives beyond `framework` and `format`.

    Args:
        path: a `.ubj`, `.bst` or `.json` model (other suffixes give nothing).
        relpath: its path in the model, for messages.

    Returns:
        (fields, note): `architecture` (the booster: gbtree, gblinear, dart) and `labels`
        (`xgboost.objective`, `.numFeature`, `.numClass`, `.estimatorType`, `.version`), those found; a
        note when the file was not read.

    Raises:
        MalformedFileError: the file is not a well-formed JSON or UBJSON document, or breaks a cap.
    """
    suffix = path.suffix.lower()
    if suffix == ".bst" and not _starts_as_ubjson(path):
        return {}, f"{relpath}: XGBoost's old binary format (before 2.1), not read: objective not recorded"
    if suffix in (".ubj", ".bst"):
        document = read_ubjson(path, relpath, WANT)
    elif suffix == ".json":
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            return {}, f"{relpath}: {size} bytes, over the {MAX_JSON_BYTES >> 20} MiB read: objective not recorded"
        document = parse_json(path.read_bytes(), relpath, MAX_JSON_BYTES)
    else:
        return {}, None
    return _fields(document), None


def _starts_as_ubjson(path: Path) -> bool:
    """Whether the file begins as XGBoost's UBJSON document does: an object (`{`). XGBoost's old binary
    format began with its parameters' bytes (a float, `binf` before it in some versions)."""
    with path.open("rb") as f:
        return f.read(1) == b"{"


def _fields(document: Any) -> dict[str, Any]:
    learner = _get(document, "learner")
    fields: dict[str, Any] = {}
    if booster := short_text(_get(learner, "gradient_booster", "name"), 64):
        fields["architecture"] = booster
    labels = {}
    if objective := short_text(_get(learner, "objective", "name"), 64):
        labels["xgboost.objective"] = objective
    params = _get(learner, "learner_model_param")
    for key, label in (("num_feature", "xgboost.numFeature"), ("num_class", "xgboost.numClass")):
        value = short_text(_get(params, key), 20)
        if value is not None and value.isdigit() and (key != "num_class" or int(value) > 0):
            labels[label] = value
    attribute = _get(learner, "attributes", "scikit_learn")  # XGBoost's sklearn wrapper: JSON in a string
    sklearn = jsontext.parse_or_none(attribute, 64 * 1024) if isinstance(attribute, str) else None
    if estimator := short_text(_get(sklearn, "_estimator_type"), 64):
        labels["xgboost.estimatorType"] = estimator
    version = _get(document, "version")
    if isinstance(version, list) and 0 < len(version) <= 4 and all(type(v) is int and 0 <= v < 10**6
                                                                     for v in version):
        labels["xgboost.version"] = ".".join(map(str, version))
    if labels:
        fields["labels"] = labels
    return fields


def _get(value: Any, *keys: str) -> Any:
    """`value[k1][k2]...`, or None where a level is not an object or lacks the key."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value
