"""Open Inference Protocol (KServe V2) inference requests and responses, independent of the HTTP server.

A request is checked against the protocol before any of it reaches numpy or the model: its fields have
the protocol's JSON types, every input's data are of its datatype and inside that datatype's range, the
element count matches the shape, and the requested outputs exist. Inputs and outputs may travel as
binary data (see `binary_tensors`). NaN and Infinity, which JSON cannot express, are refused in JSON
requests and written as null in JSON responses; binary tensors carry them as they are.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from modelpack.serve import binary_tensors
from modelpack.serve.datatypes import NUMPY_TYPES, DatatypeError, check_values, datatype_of

_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer", bool: "a boolean"}


class BadRequest(Exception):
    """The request breaks the protocol; the message is the 400 response's `error`."""


@dataclass
class InferenceRequest:
    """A checked request: inputs as numpy arrays, the outputs asked for and how to send them."""

    inputs: dict[str, Any]  # name -> numpy array of the declared datatype and shape
    outputs: dict[str, bool]  # requested output -> sent as binary data; empty: all outputs
    id: str | None = None
    binary_outputs: bool = False  # the request's `binary_data_output` parameter (default for all outputs)
    parameters: dict[str, Any] = field(default_factory=dict)


def loads(body: bytes) -> Any:
    """The request's JSON header; NaN and Infinity, which are not JSON, are refused.

    Raises:
        BadRequest: not JSON, nested too deeply, or a NaN/Infinity token.
    """
    def constant(token: str) -> Any:
        raise BadRequest(f"{token} is not a JSON number")

    try:
        return json.loads(body, parse_constant=constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadRequest("request body is not valid JSON (or nested too deeply)") from None


def parse_request(request: Any, output_names: list[str], binary: memoryview | None = None) -> InferenceRequest:
    """Check an inference request and convert its inputs to numpy arrays.

    Args:
        request: the decoded JSON header.
        output_names: the outputs the model produces (a requested output outside them is refused).
        binary: the body's bytes after the JSON header (binary tensor extension), if any.

    Returns:
        The checked request.

    Raises:
        BadRequest: naming the field (and input) that breaks the protocol.
    """
    if not isinstance(request, dict):
        raise BadRequest("request must be a JSON object with a non-empty 'inputs' array")
    _optional(request, "id", str, "id")
    parameters = _parameters(request, "parameters")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        if "instances" in request:  # KServe's V1 body, sent to this V2 endpoint
            raise BadRequest("'instances' is KServe's V1 protocol; this server speaks V2 (the Open Inference "
                             "Protocol): send {\"inputs\": [{\"name\": ..., \"shape\": [...], \"datatype\": ..., "
                             "\"data\": [...]}]}, as GET /v2/models/NAME describes")
        raise BadRequest("request must be a JSON object with a non-empty 'inputs' array")
    rest = binary if binary is not None else memoryview(b"")
    arrays: dict[str, Any] = {}
    for i, tensor in enumerate(inputs):
        name, array, rest = _input(i, tensor, rest)
        if name in arrays:
            raise BadRequest(f"inputs[{i}]: a second input named {name!r}")
        arrays[name] = array
    if len(rest):
        raise BadRequest(f"{len(rest)} bytes of binary data follow the inputs' binary_data_size")
    binary_default = parameters.get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise BadRequest("parameters.binary_data_output must be a boolean")
    return InferenceRequest(arrays, _outputs(request.get("outputs"), output_names, binary_default),
                            request.get("id"), binary_default, parameters)


def _optional(node: dict[str, Any], key: str, kind: type, where: str) -> None:
    if key in node and node[key] is not None and not isinstance(node[key], kind):
        raise BadRequest(f"{where} must be {_JSON_NAMES[kind]}")


def _parameters(node: dict[str, Any], where: str) -> dict[str, Any]:
    """A `$parameters` object: string keys to booleans, numbers or strings."""
    _optional(node, "parameters", dict, where)
    parameters = node.get("parameters") or {}
    for key, value in parameters.items():
        if not isinstance(value, (bool, int, float, str)):
            raise BadRequest(f"{where}.{key} must be a boolean, a number or a string")
    return parameters


def _input(i: int, tensor: Any, binary: memoryview) -> tuple[str, Any, memoryview]:
    import numpy as np

    if not isinstance(tensor, dict):
        raise BadRequest(f"inputs[{i}] must be an object with name, shape, datatype and data")
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"inputs[{i}].name must be a non-empty string")
    where = f"input {name!r}"
    if datatype not in NUMPY_TYPES:
        raise BadRequest(f"{where}: datatype {datatype!r} is not one of {', '.join(NUMPY_TYPES)}")
    if not isinstance(shape, list) or not all(type(d) is int and 0 <= d < 2 ** 63 for d in shape):
        raise BadRequest(f"{where}: shape must be an array of non-negative integers")
    size = _parameters(tensor, f"{where}: parameters").get("binary_data_size")
    try:
        if size is not None:
            if type(size) is not int or size < 0 or size > len(binary):
                raise BadRequest(f"{where}: binary_data_size {size!r} is not a size within the "
                                 f"{len(binary)} bytes of binary data left")
            if "data" in tensor:
                raise BadRequest(f"{where}: both data and binary_data_size")
            return name, binary_tensors.decode(datatype, shape, binary[:size], where), binary[size:]
        if "data" not in tensor:
            raise BadRequest(f"{where}: no data (and no binary_data_size)")
        values = _flatten(tensor["data"], len(shape), where)
        count = math.prod(shape)
        if len(values) != count:
            raise BadRequest(f"{where}: {len(values)} values do not fit shape {shape} ({count} values)")
        check_values(values, datatype, where)
        array = np.array(values, dtype=NUMPY_TYPES[datatype]).reshape(shape)
    except DatatypeError as exc:
        raise BadRequest(str(exc)) from None
    except (ValueError, TypeError, OverflowError) as exc:  # checked above; a last line of defence
        raise BadRequest(f"{where}: data do not fit {datatype}: {exc}") from None
    return name, array, binary


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


def _outputs(requested: Any, output_names: list[str], binary_default: bool) -> dict[str, bool]:
    if requested is None:
        return {}
    if not isinstance(requested, list):
        raise BadRequest("outputs must be an array of objects with a name")
    chosen: dict[str, bool] = {}
    for i, output in enumerate(requested):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise BadRequest(f"outputs[{i}] must be an object with a name")
        parameters = _parameters(output, f"outputs[{i}].parameters")
        if output["name"] not in output_names:
            raise BadRequest(f"unknown output {output['name']!r}; the model's outputs are {', '.join(output_names)}")
        if parameters.get("classification"):
            raise BadRequest(f"outputs[{i}]: the classification extension is not supported")
        binary = parameters.get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise BadRequest(f"outputs[{i}].parameters.binary_data must be a boolean")
        chosen[output["name"]] = binary
    return chosen


def output_tensor(name: str, value: Any, binary: bool) -> tuple[dict[str, Any], bytes | None]:
    """One response tensor, and its bytes when it is sent as binary data.

    In JSON, floats that JSON cannot carry (NaN, ±Infinity) become null; BYTES are UTF-8 text (bytes
    that are not UTF-8 are escaped).
    """
    import numpy as np

    array = np.asarray(value)
    datatype = datatype_of(array.dtype)
    if datatype == "FP64" and array.dtype.name != "float64":  # float128, complex ...
        array = array.astype("float64")
    tensor: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
    if binary:
        blob = binary_tensors.encode(array, datatype)
        tensor["parameters"] = {"binary_data_size": len(blob)}
        return tensor, blob
    if datatype == "BYTES":
        tensor["data"] = [v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else str(v)
                          for v in array.reshape(-1)]
        return tensor, None
    data = array.reshape(-1).tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        data = [v if math.isfinite(v) else None for v in data]
    tensor["data"] = data
    return tensor, None


def encode_response(response: dict[str, Any], blobs: list[bytes]) -> tuple[bytes, int | None]:
    """The response body, and the length of its JSON header when binary tensors follow it.

    Raises:
        ValueError: a NaN slipped into the JSON (strict JSON fails here, not at the client).
    """
    header = dumps(response)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def dumps(body: dict[str, Any]) -> bytes:
    """A strict JSON body (a NaN that slipped through fails here, not at the client)."""
    return json.dumps(body, allow_nan=False).encode()
