"""The software a model was made with, and its versions (EU AI Act Annex IV 1(c)), as `init` records them.

model-spec's config has no field for a framework's version (only `format`), so `init` records the
versions the files state as labels: `NAME.version` (`scikit-learn.version`, `skops.version`,
`transformers.version`, `xgboost.version`) and `onnx.producer` (the exporter and its version, as the
ONNX file names them). `report` and `inspect` show them from there, for models other tools made too.
"""

from __future__ import annotations

from typing import Any

ONNX_PRODUCER = "onnx.producer"
_SUFFIX = ".version"


def software_versions(labels: Any) -> list[str]:
    """The software versions a model's labels record, as `NAME VERSION` texts, sorted.

    Args:
        labels: the model's `labels` metadata (anything that is not a mapping of text records none).

    Returns:
        e.g. `["scikit-learn 1.5.2", "skops 0.10.0"]`; the ONNX exporter as `pytorch 2.1.0 (ONNX exporter)`.
    """
    if not isinstance(labels, dict):
        return []
    found = []
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str) or not value:
            continue
        if key.endswith(_SUFFIX) and len(key) > len(_SUFFIX):
            found.append(f"{key.removesuffix(_SUFFIX)} {value}")
        elif key == ONNX_PRODUCER:
            found.append(f"{value} (ONNX exporter)")
    return sorted(found)
