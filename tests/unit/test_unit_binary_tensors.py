"""The binary tensor codec and the datatype table, without a server: every datatype round-trips, and
what does not fit is refused naming the tensor."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from modelpack.serve import binary_tensors
from modelpack.serve.datatypes import INT_RANGES, NUMPY_TYPES, DatatypeError, check_values, datatype_of


@pytest.mark.parametrize("datatype", [d for d in NUMPY_TYPES if d != "BYTES"])
def test_every_numeric_datatype_round_trips_little_endian(datatype: str) -> None:
    if datatype in INT_RANGES:
        low, high = INT_RANGES[datatype]
        array = np.array([[low, 0], [1, high]], dtype=NUMPY_TYPES[datatype])
    elif datatype == "BOOL":
        array = np.array([[True, False], [False, True]])
    else:
        array = np.array([[np.nan, np.inf], [-1.5, 0.25]], dtype=NUMPY_TYPES[datatype])
    assert datatype_of(array.dtype) == datatype
    blob = binary_tensors.encode(array, datatype)
    assert blob == array.astype(array.dtype.newbyteorder("<")).tobytes()
    back = binary_tensors.decode(datatype, [2, 2], memoryview(blob), "input 'x'")
    assert back.dtype == array.dtype and np.array_equal(back, array, equal_nan=array.dtype.kind == "f")


def test_bytes_elements_are_length_prefixed() -> None:
    blob = binary_tensors.encode(np.array(["a", b"\xff\x00", ""], dtype=object), "BYTES")
    assert blob == struct.pack("<I", 1) + b"a" + struct.pack("<I", 2) + b"\xff\x00" + struct.pack("<I", 0)
    assert binary_tensors.decode("BYTES", [3], memoryview(blob), "x").tolist() == [b"a", b"\xff\x00", b""]
    with pytest.raises(DatatypeError, match="the shape needs 2"):
        binary_tensors.decode("BYTES", [2], memoryview(blob), "x")


def test_body_split_at_the_header_length() -> None:
    header, rest = binary_tensors.split_body(b'{"a":1}XYZ', "7")
    assert header == b'{"a":1}' and bytes(rest) == b"XYZ"
    for bad in ("-1", "99", "7x", ""):
        with pytest.raises(DatatypeError, match="Inference-Header-Content-Length"):
            binary_tensors.split_body(b'{"a":1}XYZ', bad)


@pytest.mark.parametrize("datatype, values, message", [
    ("INT64", [2 ** 70], "out of range for INT64"), ("UINT8", [300], "out of range for UINT8"),
    ("INT8", [-129], "out of range for INT8"), ("FP16", [70000.0], "out of range for FP16"),
    ("BOOL", [1], "true or false"), ("INT32", [1.5], "must be integers"), ("BYTES", [3], "strings"),
])
def test_values_outside_their_datatype_are_refused(datatype: str, values: list[object], message: str) -> None:
    with pytest.raises(DatatypeError, match=message):
        check_values(values, datatype, "input 'x'")


def test_types_without_a_protocol_type_are_sent_as_fp64_or_bytes() -> None:
    assert datatype_of(np.dtype("complex128")) == "FP64" and datatype_of(np.dtype("U3")) == "BYTES"
