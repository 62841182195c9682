"""An ONNX model's opset and graph inputs, read from its protobuf wire format directly.

The `onnx` package is only a test dependency of modelpack, so the few fields needed are decoded here:
ModelProto.opset_import (field 8: domain 1, version 2) and ModelProto.graph (field 7) with its inputs
(field 11, a ValueInfoProto whose name is field 1) and initializers (field 5, a TensorProto whose name is
field 8; older exporters list initializers among the inputs, so they are left out). Everything else,
tensor data above all, is skipped by seeking, and every count and length is capped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from modelpack.errors import MalformedFileError
from modelpack.inspection.reading import CappedReader, short_text

MAX_FIELDS = 1_000_000  # fields visited in all
MAX_INPUTS = 10_000
MAX_NAME_BYTES = 64 * 1024
MAX_READ_BYTES = 64 * 1024 * 1024  # bytes read (skipped tensor data does not count)
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


@dataclass
class OnnxSummary:
    """The default-domain opset and the graph's real inputs (initializers left out)."""

    opset: int | None = None
    inputs: list[str] = field(default_factory=list)
    producer: str = ""  # ModelProto.producer_name (field 2), e.g. pytorch
    producer_version: str = ""  # ModelProto.producer_version (field 3), e.g. 2.1.0


def read_onnx_header(path: Path, name: str) -> OnnxSummary:
    """Decode an ONNX file's opset and input names.

    Args:
        path: the .onnx file.
        name: its path as shown in messages.

    Returns:
        The opset of the default domain (`""` or `ai.onnx`), the input names, and the producer (the
        exporting framework) with its version.

    Raises:
        MalformedFileError: a field that runs past its message or the file, a wire type protobuf does not
            have, or a count over its cap.
    """
    with open(path, "rb") as raw:
        decoder = _Decoder(CappedReader(raw, MAX_READ_BYTES, name), os.fstat(raw.fileno()).st_size)
        summary = OnnxSummary()
        inputs: list[str] = []
        initializers: set[str] = set()
        for number, wire, size in decoder.fields(decoder.size):
            if number == 8 and wire == _LEN:
                domain, version = _opset(decoder, size)
                if domain in ("", "ai.onnx") and version is not None:
                    summary.opset = version
            elif number in (2, 3) and wire == _LEN:
                text = short_text(decoder.text(size), 64) or ""
                if number == 2:
                    summary.producer = text
                else:
                    summary.producer_version = text
            elif number == 7 and wire == _LEN:
                for graph_field, graph_wire, graph_size in decoder.fields(size):
                    if graph_wire == _LEN and graph_field == 5:
                        initializers.add(decoder.name_field(graph_size, 8))
                    elif graph_wire == _LEN and graph_field == 11:
                        inputs.append(decoder.name_field(graph_size, 1))
                        if len(inputs) > MAX_INPUTS:
                            raise MalformedFileError(f"{name}: more than {MAX_INPUTS} graph inputs")
                    else:
                        decoder.skip(graph_wire, graph_size)
            else:
                decoder.skip(wire, size)
    summary.inputs = [item for item in inputs if item and item not in initializers]
    return summary


def _opset(decoder: _Decoder, size: int) -> tuple[str, int | None]:
    domain, version = "", None
    for number, wire, item in decoder.fields(size):
        if number == 1 and wire == _LEN:
            domain = decoder.text(item)
        elif number == 2 and wire == _VARINT:
            version = item
        else:
            decoder.skip(wire, item)
    return domain, version


class _Decoder:
    """Protobuf fields from a capped file: `fields(size)` yields (number, wire type, value or length)
    for the next `size` bytes; the caller reads or skips each length-delimited payload."""

    def __init__(self, reader: CappedReader, size: int) -> None:
        self.reader = reader
        self.size = size
        self.visited = 0

    def varint(self) -> int:
        value = 0
        for shift in range(0, 70, 7):
            byte = self.reader.exact(1, "varint")[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise MalformedFileError(f"{self.reader.what}: a protobuf varint longer than 10 bytes")

    def fields(self, size: int) -> _FieldIter:
        return _FieldIter(self, size)

    def skip(self, wire: int, size: int) -> None:
        if wire == _LEN:
            self.reader.skip(size, "protobuf field")

    def text(self, size: int) -> str:
        if size > MAX_NAME_BYTES:
            raise MalformedFileError(f"{self.reader.what}: a {size}-byte name (limit {MAX_NAME_BYTES})")
        return self.reader.exact(size, "name").decode("utf-8", errors="replace")

    def name_field(self, size: int, number: int) -> str:
        """Field `number` (a string) of the message of `size` bytes that starts here."""
        found = ""
        for item_number, wire, item in self.fields(size):
            if item_number == number and wire == _LEN:
                found = self.text(item)
            else:
                self.skip(wire, item)
        return found


class _FieldIter:
    def __init__(self, decoder: _Decoder, size: int) -> None:
        self.decoder = decoder
        self.end = decoder.reader.tell() + size
        if self.end > decoder.size:
            raise MalformedFileError(f"{decoder.reader.what}: a protobuf message runs past the end of the file")

    def __iter__(self) -> _FieldIter:
        return self

    def __next__(self) -> tuple[int, int, int]:
        decoder = self.decoder
        here = decoder.reader.tell()
        if here == self.end:
            raise StopIteration
        if here > self.end:
            raise MalformedFileError(f"{decoder.reader.what}: a protobuf field runs past its message")
        decoder.visited += 1
        if decoder.visited > MAX_FIELDS:
            raise MalformedFileError(f"{decoder.reader.what}: more than {MAX_FIELDS} protobuf fields")
        key = decoder.varint()
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            return number, wire, decoder.varint()
        if wire in (_I64, _I32):
            decoder.reader.skip(8 if wire == _I64 else 4, "fixed-size field")
            return number, wire, 0
        if wire == _LEN:
            length = decoder.varint()
            if decoder.reader.tell() + length > self.end:
                raise MalformedFileError(f"{decoder.reader.what}: a protobuf field runs past its message")
            return number, wire, length
        raise MalformedFileError(f"{decoder.reader.what}: protobuf wire type {wire} is not one ONNX uses")
