"""The header of a GGUF file (llama.cpp): magic `GGUF`, a version, the tensor and key/value counts, the
key/values, then each tensor's name, shape and type. Parsed here with a cap on every count, string and
the bytes read, since the file is the artifact's word, not ours; tensor data is never read."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack.errors import MalformedFileError
from modelpack.inspection.reading import CappedReader, short_text

MAGIC = b"GGUF"
MAX_HEADER_BYTES = 256 * 1024 * 1024  # vocabularies of 256k tokens take a few MiB
MAX_KEY_VALUES = 100_000
MAX_TENSORS = 1_000_000
MAX_ARRAY_ITEMS = 10_000_000
MAX_STRING_BYTES = 1024 * 1024
MAX_KEY_BYTES = 64 * 1024
MAX_DIMS = 8
MAX_ARRAY_DEPTH = 4
KEPT_KEYS = ("general.architecture", "general.name", "general.file_type", "general.size_label",
             "general.license", "general.basename")

# Scalar value types: GGUF type id -> struct format.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q",
            12: "<d"}
_STRING, _ARRAY = 8, 9

# general.file_type (llama.cpp's llama_ftype): id -> (precision, quantization).
FILE_TYPES: dict[int, tuple[str | None, str | None]] = {
    0: ("float32", None), 1: ("float16", None), 2: (None, "q4_0"), 3: (None, "q4_1"), 7: (None, "q8_0"),
    8: (None, "q5_0"), 9: (None, "q5_1"), 10: (None, "q2_k"), 11: (None, "q3_k_s"), 12: (None, "q3_k_m"),
    13: (None, "q3_k_l"), 14: (None, "q4_k_s"), 15: (None, "q4_k_m"), 16: (None, "q5_k_s"),
    17: (None, "q5_k_m"), 18: (None, "q6_k"), 19: (None, "iq2_xxs"), 20: (None, "iq2_xs"),
    21: (None, "q2_k_s"), 22: (None, "iq3_xs"), 23: (None, "iq3_xxs"), 24: (None, "iq1_s"),
    25: (None, "iq4_nl"), 26: (None, "iq3_s"), 27: (None, "iq3_m"), 28: (None, "iq2_s"), 29: (None, "iq2_m"),
    30: (None, "iq4_xs"), 31: (None, "iq1_m"), 32: ("bfloat16", None), 36: (None, "tq1_0"),
    37: (None, "tq2_0"),
}


@dataclass
class GgufSummary:
    """What a GGUF header says: the kept key/values and the parameter count of its tensors."""

    values: dict[str, Any] = field(default_factory=dict)
    parameters: int = 0

    def fields(self) -> dict[str, Any]:
        """Metadata fields: `family` (general.architecture), `title` (general.name), `precision` and
        `quantization` (general.file_type), `licenses` (general.license)."""
        out: dict[str, Any] = {}
        if family := short_text(self.values.get("general.architecture")):
            out["family"] = family
        if title := short_text(self.values.get("general.name")):
            out["title"] = title
        if license_ := short_text(self.values.get("general.license")):
            out["licenses"] = [license_]
        file_type = self.values.get("general.file_type")
        if isinstance(file_type, int) and file_type in FILE_TYPES:
            precision, quantization = FILE_TYPES[file_type]
            out.update({k: v for k, v in (("precision", precision), ("quantization", quantization)) if v})
        return out


def read_gguf_header(path: Path, name: str) -> GgufSummary:
    """Read a GGUF file's key/values and tensor shapes.

    Args:
        path: the file.
        name: its path as shown in messages.

    Returns:
        The keys of KEPT_KEYS that hold scalars or text, and the sum of the tensors' element counts.

    Raises:
        MalformedFileError: not GGUF, an unknown version or value type, a count, string or array over
            its cap, or a header that ends early.
    """
    with open(path, "rb") as raw:
        reader = _Reader(CappedReader(raw, MAX_HEADER_BYTES, name))
        if reader.raw.exact(4, "magic") != MAGIC:
            raise MalformedFileError(f"{name}: not a GGUF file (no GGUF magic)")
        version = reader.scalar("<I", "version")
        if version not in (1, 2, 3):
            raise MalformedFileError(f"{name}: GGUF version {version} is not one modelpack reads (1 to 3)")
        reader.wide = version >= 2  # version 1 wrote counts and lengths as 32-bit
        tensors = reader.count(MAX_TENSORS, "tensor count")
        pairs = reader.count(MAX_KEY_VALUES, "key/value count")
        summary = GgufSummary()
        for _ in range(pairs):
            key = reader.string(MAX_KEY_BYTES, "key")
            value = reader.value(reader.scalar("<I", f"type of {key[:80]!r}"), key, 0)
            if key in KEPT_KEYS and isinstance(value, str | int | float):
                summary.values[key] = value
        for _ in range(tensors):
            tensor = reader.string(MAX_KEY_BYTES, "tensor name")
            dims = reader.scalar("<I", f"dimensions of {tensor[:80]!r}")
            if dims > MAX_DIMS:
                raise MalformedFileError(f"{name}: tensor {tensor[:80]!r} has {dims} dimensions (limit {MAX_DIMS})")
            shape = [reader.scalar("<Q", "tensor shape") for _ in range(dims)]
            reader.raw.skip(4 + 8, "tensor type and offset")
            summary.parameters += math.prod(shape)
    return summary


class _Reader:
    """Little-endian GGUF values from a capped stream."""

    def __init__(self, raw: CappedReader) -> None:
        self.raw = raw
        self.wide = True

    def scalar(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.raw.exact(struct.calcsize(fmt), what))[0]

    def count(self, limit: int, what: str) -> int:
        value = int(self.scalar("<Q" if self.wide else "<I", what))
        if value > limit:
            raise MalformedFileError(f"{self.raw.what}: GGUF {what} {value} is over the limit of {limit}")
        return value

    def string(self, limit: int, what: str) -> str:
        length = self.count(limit, f"{what} length")
        data = self.raw.exact(length, what)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedFileError(f"{self.raw.what}: a GGUF {what} is not UTF-8") from None

    def value(self, kind: int, key: str, depth: int) -> Any:
        """One value of type `kind`; arrays are walked (their fixed-size items skipped) and returned
        as None, since no kept key is an array."""
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind], f"value of {key[:80]!r}")
        if kind == _STRING:
            return self.string(MAX_STRING_BYTES, f"string of {key[:80]!r}")
        if kind == _ARRAY and depth < MAX_ARRAY_DEPTH:
            item = self.scalar("<I", f"array type of {key[:80]!r}")
            items = self.count(MAX_ARRAY_ITEMS, f"array length of {key[:80]!r}")
            if item in _SCALARS:
                self.raw.skip(items * struct.calcsize(_SCALARS[item]), f"array of {key[:80]!r}")
            else:
                for _ in range(items):
                    self.value(item, key, depth + 1)
            return None
        raise MalformedFileError(f"{self.raw.what}: GGUF value type {kind} of {key[:80]!r} is unknown"
                                 + (" (arrays nested too deep)" if kind == _ARRAY else ""))
