"""XGBoost models in XGBoost's own formats (UBJSON `.ubj`/`.bst`, JSON `.json`; which files are is
`modelpack.inspection.xgboost_file`'s to say): data that XGBoost's C++ parser reads, never a pickle. What a
model predicts is read from its objective:

- `binary:logistic`, `multi:softprob`: `predict` (INT64 class index) and `predict_proba` (FP32, one column
  per class, as scikit-learn's classifiers give them);
- `binary:hinge`, `multi:softmax`: `predict` (INT64 class index);
- anything else (regression, counts, survival, ranking, raw margins): `predict` (FP32), one column per
  target when there are several.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack.serve.datatypes import cast

_WITH_PROBABILITIES = ("binary:logistic", "multi:softprob")
_LABELS_ONLY = ("binary:hinge", "multi:softmax")


@dataclass
class XGBoostRuntime:
    """A loaded `xgboost.Booster` and what its objective makes of a prediction."""

    booster: Any
    platform: str = "xgboost"
    named_inputs: bool = False
    objective: str = field(init=False)
    classes: int = field(init=False)
    targets: int = field(init=False)

    def __post_init__(self) -> None:
        learner = json.loads(self.booster.save_config())["learner"]
        parameters = learner.get("learner_model_param", {})
        self.objective = str(learner.get("objective", {}).get("name", ""))
        self.classes = max(int(parameters.get("num_class", "0") or 0), 2 if self.objective.startswith("binary:")
                           else 0)
        self.targets = max(int(parameters.get("num_target", "1") or 1), 1)

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Named numpy arrays in (one matrix of features), named numpy arrays out (module docstring).

        Raises:
            ValueError: features that are not numbers.
        """
        import numpy as np

        name, features = next(iter(inputs.items()))  # one [-1, features] input: `signature_check`
        features = np.asarray(features)
        if features.dtype.kind not in "fiub":
            raise ValueError(f"features must be numbers, not {features.dtype}")
        raw = np.asarray(self.booster.inplace_predict(cast(features, "FP32", f"input {name!r}")))
        if self.objective in _WITH_PROBABILITIES:
            proba = np.stack([1 - raw, raw], axis=1) if raw.ndim == 1 else raw
            return {"predict": proba.argmax(axis=1).astype(np.int64), "predict_proba": proba.astype(np.float32)}
        if self.objective in _LABELS_ONLY:
            return {"predict": raw.reshape(len(features)).astype(np.int64)}
        return {"predict": raw.astype(np.float32)}

    def signature(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Input: FP32 [-1, features]; outputs as the objective makes them (module docstring)."""
        inputs = [{"name": "input-0", "datatype": "FP32", "shape": [-1, int(self.booster.num_features())]}]
        if self.objective in _WITH_PROBABILITIES:
            return inputs, [{"name": "predict", "datatype": "INT64", "shape": [-1]},
                            {"name": "predict_proba", "datatype": "FP32", "shape": [-1, self.classes]}]
        if self.objective in _LABELS_ONLY:
            return inputs, [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
        shape = [-1] if self.targets == 1 else [-1, self.targets]
        return inputs, [{"name": "predict", "datatype": "FP32", "shape": shape}]


def load_booster(path: Path) -> XGBoostRuntime:
    """An XGBoost model file as a runtime.

    Args:
        path: a .ubj, .bst or (XGBoost) .json model file.

    Returns:
        The runtime.

    Raises:
        xgboost.core.XGBoostError: not a model XGBoost can read (the caller turns it into one line).
    """
    import xgboost

    booster = xgboost.Booster()
    with warnings.catch_warnings():  # "Unknown file format: `bst`. Using UBJSON as a guess": so it is
        warnings.simplefilter("ignore")
        booster.load_model(str(path))
    return XGBoostRuntime(booster)
