"""The binary tensor data extension of the Open Inference Protocol's REST side, both ways.

A request or response body is a JSON header followed by the raw bytes of some tensors; the header's
length is in the `Inference-Header-Content-Length` HTTP header, and each binary tensor says how many
bytes it takes in its `parameters.binary_data_size`, in the order the tensors are listed. Elements are
little-endian, row-major, without padding; BOOL is one byte (0 or 1); each BYTES element is a 4-byte
little-endian length followed by that many bytes.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from modelpack.serve.datatypes import NUMPY_TYPES, DatatypeError

HEADER = "inference-header-content-length"
_LENGTH = struct.Struct("<I")


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """The JSON header and the binary part of a request body.

    Args:
        body: the whole request body.
        header_length: the `Inference-Header-Content-Length` header's value, or None (all JSON).

    Returns:
        (JSON bytes, binary bytes; empty when there is no binary part).

    Raises:
        DatatypeError: a header length that is not a number between 0 and the body's size.
    """
    view = memoryview(body)
    if header_length is None:
        return body, view[len(body):]
    digits = header_length.strip()
    # ASCII digits only, and few of them: str.isdigit() takes '²' and int() refuses over 4300 digits.
    if not (0 < len(digits) <= 20 and digits.isascii() and digits.isdigit()) or int(digits) > len(body):
        raise DatatypeError(f"Inference-Header-Content-Length {header_length[:40]!r} is not a length within "
                            f"the body of {len(body)} bytes")
    size = int(digits)
    return bytes(view[:size]), view[size:]


def decode(datatype: str, shape: list[int], raw: memoryview, where: str) -> Any:
    """A numpy array from one tensor's binary data.

    Args:
        datatype: the tensor's protocol datatype.
        shape: its shape.
        raw: exactly its bytes.
        where: what to name in errors, e.g. "input 'x'".

    Returns:
        An array of the datatype's numpy type and of `shape` (BYTES: an object array of bytes).

    Raises:
        DatatypeError: the bytes do not hold exactly the shape's element count, or a BOOL byte is not 0 or 1.
    """
    import numpy as np

    count = math.prod(shape)
    if datatype == "BYTES":
        return np.array(_bytes_elements(raw, count, where), dtype=object).reshape(shape)
    dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise DatatypeError(f"{where}: {len(raw)} bytes of binary data do not fit shape {shape} of {datatype} "
                            f"({count * dtype.itemsize} bytes)")
    if datatype == "BOOL":
        octets = np.frombuffer(raw, dtype=np.uint8)
        if octets.size and octets.max() > 1:
            raise DatatypeError(f"{where}: BOOL binary data must be bytes 0 or 1")
        return octets.view(np.bool_).reshape(shape)
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="), copy=False).reshape(shape)


def _bytes_elements(raw: memoryview, count: int, where: str) -> list[bytes]:
    elements, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise DatatypeError(f"{where}: BYTES binary data end inside an element's length")
        (size,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise DatatypeError(f"{where}: a BYTES element of {size} bytes runs past the tensor's data")
        elements.append(bytes(raw[offset:offset + size]))
        offset += size
        if len(elements) > count:
            break
    if len(elements) != count:
        raise DatatypeError(f"{where}: BYTES binary data hold {'more than ' if len(elements) > count else ''}"
                            f"{len(elements)} elements, the shape needs {count}")
    return elements


def encode(array: Any, datatype: str) -> bytes:
    """One output tensor's binary data (see the module docstring for the layout).

    Args:
        array: a numpy array.
        datatype: the protocol datatype it is sent as (from `datatypes.datatype_of`).

    Returns:
        Its bytes.
    """
    import numpy as np

    if datatype == "BYTES":
        parts = []
        for value in np.asarray(array).reshape(-1):
            data = value if isinstance(value, bytes) else str(value).encode()
            parts += [_LENGTH.pack(len(data)), data]
        return b"".join(parts)
    dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
    return np.ascontiguousarray(array, dtype=dtype).tobytes()
