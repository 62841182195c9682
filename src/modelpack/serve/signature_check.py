"""An inference request's inputs checked against the inputs the model declares, before the model runs.

Triton refuses, with INVALID_ARG (HTTP 400), an input the model does not declare, a missing one, and a
shape whose rank or fixed dimensions differ from the model's (`-1` matches any size); so does this check,
with the same statuses (400 `{"error": ...}` over REST, INVALID_ARGUMENT over gRPC). Whether the data fill
the shape is checked earlier, as each tensor is decoded (`protocol`, `oip_grpc`).

What is checked depends on what the model declares:

- A model that names its inputs (ONNX): every input by name, none missing, none unknown, each shape
  against the graph's (a symbolic or unknown dimension is `-1`). An input declared with no dimensions is
  not checked for shape: onnxruntime says `[]` both of a scalar and of an input whose shape the graph does
  not record, which takes any; onnxruntime itself refuses what its graph cannot take (a 400 too).
  Datatypes are converted where no value changes (`datatypes.cast`), not refused as Triton refuses them.
- A model that takes one unnamed matrix (scikit-learn, XGBoost): exactly one input, of any name, as
  KServe's sklearnserver and MLServer take it (modelpack's metadata calls it `input-0`); its shape must
  be two-dimensional, with the model's number of features as its width where the model records one
  (scikit-learn's `n_features_in_`, XGBoost's `num_features`). A scikit-learn object that records no
  width is checked for rank only: the width is the model's own `predict` to refuse (also a 400).
"""

from __future__ import annotations

from typing import Any

from modelpack.first_few import first_few
from modelpack.serve.protocol import BadRequest


def check_inputs(inputs: dict[str, Any], declared: list[dict[str, Any]], named: bool) -> None:
    """Refuse inputs that do not match the model's declared inputs.

    Args:
        inputs: the request's inputs, numpy arrays by name (their data already fill their shapes).
        declared: the model's inputs as its metadata gives them (`name`, `datatype`, `shape`; -1: any size).
        named: whether the model itself names its inputs (False: one unnamed input, any name accepted).

    Raises:
        BadRequest: naming the unknown, missing or misshapen input and what the model takes.
    """
    if not named:
        if len(inputs) != 1 or len(declared) != 1:
            raise BadRequest(f"the model takes one input ({_describe(declared)}); {len(inputs)} were given: "
                             f"{_names(inputs)}")
        name, array = next(iter(inputs.items()))
        _check_shape(name, array, declared[0])
        return
    by_name = {str(d["name"]): d for d in declared}
    for name in inputs:
        if name not in by_name:
            raise BadRequest(f"unknown input {name!r}; the model's inputs are {_describe(declared)}")
    missing = [name for name in by_name if name not in inputs]
    if missing:
        raise BadRequest(f"missing input {missing[0]!r}; the model's inputs are {_describe(declared)}")
    for name, array in inputs.items():
        _check_shape(name, array, by_name[name])


def _check_shape(name: str, array: Any, declared: dict[str, Any]) -> None:
    expected = [int(d) for d in declared["shape"]]
    if not expected:  # onnxruntime gives [] for a scalar and for an input the graph records no shape of
        return
    given = [int(d) for d in array.shape]
    if len(given) != len(expected) or any(e != -1 and e != g for e, g in zip(expected, given, strict=True)):
        raise BadRequest(f"input {name!r}: shape {given} does not match the model's {expected} "
                         "(-1: any size)")


def _describe(declared: list[dict[str, Any]]) -> str:
    return first_few([f"{d['name']} {d['datatype']} {list(d['shape'])}" for d in declared], 8) or "none"


def _names(inputs: dict[str, Any]) -> str:
    return first_few([repr(name) for name in inputs], 8)
