"""The header of a safetensors file: an 8-byte little-endian length, then that many bytes of JSON naming
each tensor's dtype, shape and byte range. Only the header is read; the tensors never are."""

from __future__ import annotations

import math
import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from modelpack.errors import MalformedFileError
from modelpack.inspection.reading import CappedReader, parse_json, short_text

MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit
MAX_TENSORS = 1_000_000
MAX_DIMS = 16

# Bytes per element of the dtypes whose size is whole bytes (others are counted, not size-checked).
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8,
               "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1}
PRECISIONS = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16",
              "U8": "uint8", "BOOL": "bool", "F8_E4M3": "float8_e4m3", "F8_E5M2": "float8_e5m2",
              "F8_E8M0": "float8_e8m0", "F4": "float4"}


@dataclass
class SafetensorsSummary:
    """What the headers of one or more safetensors files say: parameters per dtype, and the software
    versions their `__metadata__` states (`versions`: name -> version; the first file's win)."""

    by_dtype: Counter[str] = field(default_factory=Counter)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def parameters(self) -> int:
        return sum(self.by_dtype.values())

    @property
    def precision(self) -> str | None:
        """The dtype holding the most parameters, in torch's spelling (`bfloat16`)."""
        if not self.by_dtype:
            return None
        dtype = max(sorted(self.by_dtype), key=lambda d: self.by_dtype[d])
        return PRECISIONS.get(dtype, dtype.lower())

    def add(self, other: SafetensorsSummary) -> None:
        self.by_dtype.update(other.by_dtype)
        self.versions = {**other.versions, **self.versions}


def read_safetensors_header(path: Path, name: str) -> SafetensorsSummary:
    """Count the parameters a safetensors file declares.

    Args:
        path: the file.
        name: its path as shown in messages.

    Returns:
        Parameters per dtype.

    Raises:
        MalformedFileError: a header length over the cap or past the file's end, a header that is not a
            JSON object of tensors, a shape or byte range that does not fit, too many tensors or dims.
    """
    with open(path, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        reader = CappedReader(raw, 8 + MAX_HEADER_BYTES, name)
        (length,) = struct.unpack("<Q", reader.exact(8, "header length"))
        if length > MAX_HEADER_BYTES:
            raise MalformedFileError(f"{name}: safetensors header of {length} bytes, over the "
                                     f"{MAX_HEADER_BYTES}-byte limit")
        if 8 + length > size:
            raise MalformedFileError(f"{name}: safetensors header of {length} bytes in a {size}-byte file")
        header = parse_json(reader.exact(length, "header"), f"{name}: safetensors header", MAX_HEADER_BYTES)
    if not isinstance(header, dict):
        raise MalformedFileError(f"{name}: safetensors header is not a JSON object")
    if len(header) > MAX_TENSORS:
        raise MalformedFileError(f"{name}: more than {MAX_TENSORS} tensors")
    summary = SafetensorsSummary()
    data_size = size - 8 - length
    for tensor, info in header.items():
        if tensor == "__metadata__":
            summary.versions = metadata_versions(info)
            continue
        dtype, count = _tensor(info, data_size, f"{name}: tensor {tensor[:80]!r}")
        summary.by_dtype[dtype] += count
    return summary


MAX_VERSIONS = 10


def metadata_versions(metadata: object) -> dict[str, str]:
    """The software versions a `__metadata__` object states: each `NAME_version` (or `NAME.version`,
    `NAMEversion`) key with a short text value, as NAME -> version (at most MAX_VERSIONS; the rest of
    `__metadata__`, free text its writer chose, is left out).

    Args:
        metadata: the header's `__metadata__` value (anything: the file's).

    Returns:
        e.g. `{"transformers": "4.44.0"}`.
    """
    found: dict[str, str] = {}
    for key, value in metadata.items() if isinstance(metadata, dict) else ():
        name = key[:-len("version")].rstrip("_.- ") if key.lower().endswith("version") else ""
        if (name := short_text(name, 64) or "") and (version := short_text(value, 64)):
            found[name] = version
            if len(found) == MAX_VERSIONS:
                break
    return found


def _tensor(info: object, data_size: int, what: str) -> tuple[str, int]:
    """(dtype, element count) of one header entry, its byte range checked against the data."""
    if not isinstance(info, dict):
        raise MalformedFileError(f"{what}: not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if short_text(dtype, 32) is None:
        raise MalformedFileError(f"{what}: dtype is not a short text")
    assert isinstance(dtype, str)
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(_natural(d) for d in shape):
        raise MalformedFileError(f"{what}: shape is not a list of at most {MAX_DIMS} whole numbers >= 0")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_natural(o) for o in offsets)
            or not offsets[0] <= offsets[1] <= data_size):
        raise MalformedFileError(f"{what}: data_offsets are not a byte range inside the file")
    count = math.prod(shape)
    width = DTYPE_BYTES.get(dtype)
    if width is not None and count * width != offsets[1] - offsets[0]:
        raise MalformedFileError(f"{what}: shape {shape} of {dtype} does not fill its "
                                 f"{offsets[1] - offsets[0]} bytes")
    return dtype, count


def _natural(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
