"""Open Inference Protocol (KServe V2) request checks and response encoding, independent of the HTTP server.

A request is checked against the protocol before any of it reaches numpy or the model: its fields have
the protocol's JSON types, every input's data are of its datatype and inside that datatype's range (numpy
would raise, wrap around or overflow to infinity instead), the element count matches the shape, and the
requested outputs exist. Responses never carry NaN or Infinity, which JSON cannot express: such values
are written as null.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

# The protocol's tensor datatypes and the numpy type each becomes.
NUMPY_TYPES = {"BOOL": "bool", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
               "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
               "FP16": "float16", "FP32": "float32", "FP64": "float64", "BYTES": "object"}
_INT_RANGES = {name: (0, 2 ** bits - 1) if name.startswith("U") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
               for name, bits in (("INT8", 8), ("INT16", 16), ("INT32", 32), ("INT64", 64),
                                  ("UINT8", 8), ("UINT16", 16), ("UINT32", 32), ("UINT64", 64))}
_FLOAT_MAX = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": 1.7976931348623157e308}
_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer", bool: "a boolean"}


class BadRequest(Exception):
    """The request breaks the protocol; the message is the 400 response's `error`."""


@dataclass
class InferenceRequest:
    inputs: dict[str, Any]  # name -> numpy array of the declared datatype and shape
    outputs: list[str]  # requested output names, in order; empty: all of them
    id: str | None = None


def loads(body: bytes) -> Any:
    """The request body as JSON; NaN and Infinity, which are not JSON, are refused.

    Raises:
        BadRequest: not JSON, nested too deeply, or a NaN/Infinity token.
    """
    def constant(token: str) -> Any:
        raise BadRequest(f"{token} is not a JSON number")

    try:
        return json.loads(body, parse_constant=constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadRequest("request body is not valid JSON (or nested too deeply)") from None


def parse_request(request: Any, output_names: list[str]) -> InferenceRequest:
    """Check an inference request and convert its inputs to numpy arrays.

    Args:
        request: the decoded JSON body.
        output_names: the outputs the model produces (a requested output outside them is refused).

    Returns:
        The inputs as arrays, the requested outputs and the request id.

    Raises:
        BadRequest: naming the field (and input) that breaks the protocol.
    """
    if not isinstance(request, dict):
        raise BadRequest("request must be a JSON object with a non-empty 'inputs' array")
    _optional(request, "id", str, "id")
    _optional(request, "parameters", dict, "parameters")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("request must be a JSON object with a non-empty 'inputs' array")
    arrays: dict[str, Any] = {}
    for i, tensor in enumerate(inputs):
        name, array = _input(i, tensor)
        if name in arrays:
            raise BadRequest(f"inputs[{i}]: a second input named {name!r}")
        arrays[name] = array
    return InferenceRequest(arrays, _outputs(request.get("outputs"), output_names), request.get("id"))


def _optional(node: dict[str, Any], key: str, kind: type, where: str) -> None:
    if key in node and node[key] is not None and not isinstance(node[key], kind):
        raise BadRequest(f"{where} must be {_JSON_NAMES[kind]}")


def _input(i: int, tensor: Any) -> tuple[str, Any]:
    import numpy as np

    if not isinstance(tensor, dict):
        raise BadRequest(f"inputs[{i}] must be an object with name, shape, datatype and data")
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"inputs[{i}].name must be a non-empty string")
    where = f"input {name!r}"
    if datatype not in NUMPY_TYPES:
        raise BadRequest(f"{where}: datatype {datatype!r} is not one of {', '.join(NUMPY_TYPES)}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(f"{where}: shape must be an array of non-negative integers")
    _optional(tensor, "parameters", dict, f"{where}: parameters")
    if "data" not in tensor:
        raise BadRequest(f"{where}: no data (the binary tensor extension is not supported)")
    values = _flatten(tensor["data"], len(shape), where)
    count = math.prod(shape)
    if len(values) != count:
        raise BadRequest(f"{where}: {len(values)} values do not fit shape {shape} ({count} values)")
    _check_values(values, datatype, where)
    try:
        array = np.array(values, dtype=NUMPY_TYPES[datatype])
    except (ValueError, TypeError, OverflowError) as exc:  # checked above; kept as a last line of defence
        raise BadRequest(f"{where}: data do not fit {datatype}: {exc}") from None
    return name, array.reshape(shape)


def _flatten(data: Any, depth: int, where: str) -> list[Any]:
    """The values of a flat or nested (row-major) data array, nested at most as deep as the shape."""
    if not isinstance(data, list):
        raise BadRequest(f"{where}: data must be an array")
    level = data
    for _ in range(depth):
        nested = [isinstance(v, list) for v in level]
        if not any(nested):
            break
        if not all(nested):
            raise BadRequest(f"{where}: data mix arrays and values")
        level = [v for node in level for v in node]
    if any(isinstance(v, list) for v in level):
        raise BadRequest(f"{where}: data are nested deeper than the shape")
    return level


def _check_values(values: list[Any], datatype: str, where: str) -> None:
    kinds = set(map(type, values))
    if datatype == "BOOL":
        if not kinds <= {bool}:
            raise BadRequest(f"{where}: BOOL data must be true or false ({_found(kinds - {bool})} given)")
    elif datatype == "BYTES":
        if not kinds <= {str}:
            raise BadRequest(f"{where}: BYTES data must be strings ({_found(kinds - {str})} given)")
    elif datatype in _INT_RANGES:
        if not kinds <= {int}:
            raise BadRequest(f"{where}: {datatype} data must be integers ({_found(kinds - {int})} given)")
        low, high = _INT_RANGES[datatype]
        if values and (min(values) < low or max(values) > high):
            bad = min(values) if min(values) < low else max(values)
            raise BadRequest(f"{where}: {_short(bad)} is out of range for {datatype} ({low} to {high})")
    else:
        if not kinds <= {int, float}:
            raise BadRequest(f"{where}: {datatype} data must be numbers ({_found(kinds - {int, float})} given)")
        limit = _FLOAT_MAX[datatype]
        # min/max run in C; an overflowed literal such as 1e400 was read as inf and is caught here too
        # (NaN cannot occur: loads() refuses the token).
        if values and (min(values) < -limit or max(values) > limit):
            bad = min(values) if min(values) < -limit else max(values)
            raise BadRequest(f"{where}: {_short(bad)} is out of range for {datatype} (magnitude up to {limit:g})")


def _short(value: float) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} digits)"


def _found(kinds: set[type]) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    return ", ".join(sorted(names.get(k, k.__name__) for k in kinds))


def _outputs(requested: Any, output_names: list[str]) -> list[str]:
    if requested is None:
        return []
    if not isinstance(requested, list):
        raise BadRequest("outputs must be an array of objects with a name")
    names = []
    for i, output in enumerate(requested):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise BadRequest(f"outputs[{i}] must be an object with a name")
        _optional(output, "parameters", dict, f"outputs[{i}].parameters")
        if output["name"] not in output_names:
            raise BadRequest(f"unknown output {output['name']!r}; the model's outputs are {', '.join(output_names)}")
        names.append(output["name"])
    return names


def output_tensor(name: str, value: Any) -> dict[str, Any]:
    """One response tensor; floats that JSON cannot carry (NaN, ±Infinity) become null."""
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind in "OUS":
        return {"name": name, "shape": list(array.shape), "datatype": "BYTES",
                "data": [str(v) for v in array.reshape(-1)]}
    datatype = next((v2 for v2, numpy_name in NUMPY_TYPES.items() if numpy_name == array.dtype.name), None)
    if datatype is None:  # float128, complex ...: sent as FP64
        array, datatype = array.astype("float64"), "FP64"
    data = array.reshape(-1).tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        data = [v if math.isfinite(v) else None for v in data]
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}


def dumps(body: dict[str, Any]) -> bytes:
    """A response body: strict JSON (a NaN that slipped through fails here, not at the client)."""
    return json.dumps(body, allow_nan=False).encode()
