"""The Open Inference Protocol's tensor datatypes: their numpy types, value ranges and byte sizes.

Values are checked here before numpy sees them: numpy would raise, wrap around (UINT8 300 becomes 44)
or overflow to infinity instead of telling the client which value does not fit.
"""

from __future__ import annotations

from typing import Any

# Each protocol datatype and the numpy type it becomes (BYTES: an object array of bytes).
NUMPY_TYPES = {"BOOL": "bool", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
               "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
               "FP16": "float16", "FP32": "float32", "FP64": "float64", "BYTES": "object"}
INT_RANGES = {name: (0, 2 ** bits - 1) if name.startswith("U") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
              for name, bits in (("INT8", 8), ("INT16", 16), ("INT32", 32), ("INT64", 64),
                                 ("UINT8", 8), ("UINT16", 16), ("UINT32", 32), ("UINT64", 64))}
FLOAT_MAX = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": 1.7976931348623157e308}
_BY_NUMPY = {numpy_name: name for name, numpy_name in NUMPY_TYPES.items() if name != "BYTES"}


class DatatypeError(ValueError):
    """A value that is not of its tensor's datatype, or outside its range; the message names both."""


def datatype_of(numpy_dtype: Any) -> str:
    """The protocol datatype of a numpy dtype: BYTES for strings and objects, FP64 for float128 and
    anything else without a protocol type.

    Args:
        numpy_dtype: a numpy dtype (or anything with `.kind` and `.name`).

    Returns:
        One of the keys of `NUMPY_TYPES`.
    """
    if numpy_dtype.kind in "OUSV":
        return "BYTES"
    return _BY_NUMPY.get(numpy_dtype.name, "FP64")


def check_values(values: list[Any], datatype: str, where: str) -> None:
    """Check decoded JSON values against a datatype (range checks run in C: `min`/`max`).

    Args:
        values: the flattened data of one tensor.
        datatype: its declared protocol datatype.
        where: what to name in the error, e.g. "input 'x'".

    Raises:
        DatatypeError: a value of the wrong JSON type or outside the datatype's range.
    """
    kinds = set(map(type, values))
    if datatype == "BOOL":
        if not kinds <= {bool}:
            raise DatatypeError(f"{where}: BOOL data must be true or false ({_found(kinds - {bool})} given)")
    elif datatype == "BYTES":
        if not kinds <= {str}:
            raise DatatypeError(f"{where}: BYTES data must be strings ({_found(kinds - {str})} given)")
    elif datatype in INT_RANGES:
        if not kinds <= {int}:
            raise DatatypeError(f"{where}: {datatype} data must be integers ({_found(kinds - {int})} given)")
        low, high = INT_RANGES[datatype]
        if values and (min(values) < low or max(values) > high):
            bad = min(values) if min(values) < low else max(values)
            raise DatatypeError(f"{where}: {_short(bad)} is out of range for {datatype} ({low} to {high})")
    else:
        if not kinds <= {int, float}:
            raise DatatypeError(f"{where}: {datatype} data must be numbers ({_found(kinds - {int, float})} given)")
        limit = FLOAT_MAX[datatype]
        # An overflowed literal such as 1e400 was read as inf and is caught here too (NaN cannot occur:
        # the JSON reader refuses the token).
        if values and (min(values) < -limit or max(values) > limit):
            bad = min(values) if min(values) < -limit else max(values)
            raise DatatypeError(f"{where}: {_short(bad)} is out of range for {datatype} (magnitude up to {limit:g})")


def _short(value: float) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} digits)"


def _found(kinds: set[type]) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", type(None): "null",
             dict: "an object"}
    return ", ".join(sorted(names.get(k, k.__name__) for k in kinds))


def cast(array: Any, datatype: str, where: str) -> Any:
    """An input converted to the datatype the model takes, refused where a value would change meaning.

    A client may send another datatype than the model's (JSON numbers arrive as FP64 or INT64): numbers
    are converted when each keeps its value (rounding to a narrower float aside), never wrapped around
    (INT64 300 as UINT8 would be 44), truncated (1.7 as 1), overflowed to infinity, or taken between
    text, booleans and numbers.

    Args:
        array: the checked input (a numpy array of its declared datatype).
        datatype: the model's datatype for this input.
        where: what to name in the error, e.g. "input 'x'".

    Returns:
        The array in the model's numpy type (the same array when it already is).

    Raises:
        DatatypeError: naming the input, both datatypes and a value that does not fit.
    """
    import numpy as np

    target = np.dtype(NUMPY_TYPES[datatype])
    if array.dtype == target:
        return array
    given = datatype_of(array.dtype)
    if "BYTES" in (given, datatype) or datatype == "BOOL":
        raise DatatypeError(f"{where}: the model takes {datatype}, not {given}")
    if array.size == 0:
        return array.astype(target)
    if datatype in INT_RANGES:
        if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.trunc(array)).all()):
            bad = array[~(np.isfinite(array) & (array == np.trunc(array)))].flat[0]
            raise DatatypeError(f"{where}: {_short(bad.item())} is not a whole number, as the model's {datatype} needs")
        low, high = INT_RANGES[datatype]
        lowest, highest = array.min().item(), array.max().item()
        if lowest < low or highest > high:
            bad = lowest if lowest < low else highest
            raise DatatypeError(f"{where}: {_short(bad)} is out of range for the model's {datatype} ({low} to {high})")
        return array.astype(target)
    with np.errstate(over="ignore"):
        converted = array.astype(target)
    overflowed = np.isinf(converted) & ~np.isinf(array)
    if overflowed.any():
        bad = array[overflowed].flat[0].item()
        raise DatatypeError(f"{where}: {_short(bad)} is out of range for the model's {datatype} "
                            f"(magnitude up to {FLOAT_MAX[datatype]:g})")
    return converted
