"""A bounded reader of UBJSON (Universal Binary JSON, as XGBoost writes its `.ubj` models) that keeps only
the parts a caller asks for and seeks past the rest.

The file is hostile: every length and count is checked against the bytes the file has left before
anything is read or allocated, nesting is capped, every value visited (and every no-op) counts against a
budget, and what is kept is capped (a string over 64 KiB, items past 1,000 of a container, values past
10,000 or text past 1 MiB in all are skipped, kept as None or left out). So a 1 TiB declared string costs
a check, a typed array of 2**60 floats a seek that fails, and 100,000 nested arrays one error line. No
library: py-ubjson, the one on PyPI, has had no release since 2020 and builds the whole document, where
XGBoost's trees are to be skipped, not built.

What is kept is said by a `want`: a dict names the keys of an object to keep (each with its own
`want`), True keeps the whole value (within the caps), None skips it.
"""

from __future__ import annotations

import os
import struct
from typing import Any, BinaryIO

from modelpack.errors import MalformedFileError

MAX_DEPTH = 64  # nesting of arrays and objects (an XGBoost model nests about 6 deep)
MAX_VALUES = 5_000_000  # values visited in all (a typed array of numbers is one: it is skipped by a seek)
MAX_KEPT_TEXT = 64 * 1024  # a kept string longer than this is kept as None
MAX_KEPT_ITEMS = 1_000  # items kept of one container; the rest are skipped
MAX_KEPT = 10_000  # values kept in all, and bytes of kept text: past them, values are skipped (as None)
MAX_KEPT_BYTES = 1024 * 1024
_FIXED = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q", b"d": ">f", b"D": ">d", b"C": ">c"}
_CONSTANTS: dict[bytes, Any] = {b"Z": None, b"T": True, b"F": False}
_END = {b"[": b"]", b"{": b"}"}


def read_ubjson(path: str | os.PathLike[str], what: str, want: Any) -> Any:
    """The parts of a UBJSON file's value that `want` names.

    Args:
        path: the file.
        what: names the file in errors (its path in the model).
        want: what to keep (see the module's docstring).

    Returns:
        The value, with only what `want` names (an object as a dict of the kept keys).

    Raises:
        MalformedFileError: not UBJSON, truncated, a length or count past the file's end, nested over
            MAX_DEPTH, or over MAX_VALUES values.
    """
    with open(path, "rb") as f:
        reader = _Reader(f, os.fstat(f.fileno()).st_size, what)
        return reader.value(reader.marker(), want, 0)


class _Reader:
    def __init__(self, stream: BinaryIO, size: int, what: str) -> None:
        self.stream, self.size, self.what = stream, size, what
        self.pos = 0
        self.values = 0
        self.kept = 0
        self.kept_bytes = 0

    def fail(self, reason: str) -> MalformedFileError:
        return MalformedFileError(f"{self.what}: not a UBJSON model ({reason} at byte {self.pos})")

    def read(self, count: int) -> bytes:
        if count < 0 or count > self.size - self.pos:
            raise self.fail(f"{count} bytes declared, {self.size - self.pos} left in the file")
        data = self.stream.read(count)
        if len(data) != count:
            raise self.fail("the file changed while read")
        self.pos += count
        return data

    def skip(self, count: int) -> None:
        if count < 0 or count > self.size - self.pos:
            raise self.fail(f"{count} bytes declared, {self.size - self.pos} left in the file")
        self.stream.seek(count, os.SEEK_CUR)
        self.pos += count

    def marker(self) -> bytes:
        """The next type marker, past any no-op (`N`, each counted as a value)."""
        while (byte := self.read(1)) == b"N":
            self.count(1)
        return byte

    def count(self, values: int) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise self.fail(f"over {MAX_VALUES} values")

    def number(self, marker: bytes) -> Any:
        fmt = _FIXED.get(marker)
        if fmt is None:
            raise self.fail(f"type {marker!r} where a number was expected")
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def length(self, marker: bytes | None = None) -> int:
        """A length or count: an integer of any integer type, never negative (`marker`: its type, when
        already read)."""
        marker = marker or self.marker()
        if marker not in (b"i", b"U", b"I", b"l", b"L"):
            raise self.fail(f"type {marker!r} where a length was expected")
        value = int(self.number(marker))
        if value < 0:
            raise self.fail(f"negative length {value}")
        return value

    def text(self, keep: bool, marker: bytes | None = None) -> str | None:
        """A string's length and bytes (a key, an `S` or `H` value): kept when asked and short enough."""
        count = self.length(marker)
        if not keep or count > MAX_KEPT_TEXT or self.kept_bytes + count > MAX_KEPT_BYTES:
            self.skip(count)
            return None
        self.kept_bytes += count
        try:
            return self.read(count).decode()
        except UnicodeDecodeError:
            raise self.fail("a string that is not UTF-8") from None

    def value(self, marker: bytes, want: Any, depth: int) -> Any:
        self.count(1)
        if want is not None and want is not False:
            self.kept += 1
            want = want if self.kept <= MAX_KEPT else None
        if marker in _CONSTANTS:
            return _CONSTANTS[marker]
        if marker in _FIXED:
            value = self.number(marker)
            return value.decode("latin-1") if marker == b"C" else value
        if marker in (b"S", b"H"):
            return self.text(want is not None and want is not False)
        if marker in _END:
            if depth >= MAX_DEPTH:
                raise self.fail(f"nested over {MAX_DEPTH} levels")
            return self.container(marker, want, depth + 1)
        raise self.fail(f"unknown type {marker!r}")

    def container(self, opener: bytes, want: Any, depth: int) -> Any:
        """An array or object after its opening marker: optimized (`$type`, `#count`) or ended by its
        closing marker."""
        is_object, keep = opener == b"{", want is not None and want is not False
        typed, count = self.header()
        if count is not None and not is_object and typed in _CONSTANTS:  # no bytes per item: count them
            self.count(count)
            return [_CONSTANTS[typed]] * min(count, MAX_KEPT_ITEMS) if keep else None
        if count is not None and not is_object and typed in _FIXED and (not keep or count > MAX_KEPT_ITEMS):
            self.skip(count * struct.calcsize(_FIXED[typed]))  # a vector of numbers: one seek
            return [] if keep else None
        if count is not None and count > self.size - self.pos:  # each item (or key) takes a byte at least
            raise self.fail(f"{count} items declared, {self.size - self.pos} bytes left in the file")
        kept: Any = {} if is_object else []
        index = 0
        while count is None or index < count:
            marker = None
            if count is None:
                marker = self.marker()
                if marker == _END[opener]:
                    break
            whole = keep and index < MAX_KEPT_ITEMS and not isinstance(want, dict)
            if is_object:
                key = self.text(whole or isinstance(want, dict), marker)
                inner = want.get(key) if isinstance(want, dict) else want if whole else None
                item = self.value(typed or self.marker(), inner, depth)
                if whole or (isinstance(want, dict) and key in want):
                    kept[key] = item
            else:
                item = self.value(marker or typed or self.marker(), want if whole else None, depth)
                if whole:
                    kept.append(item)
            index += 1
        return kept if keep else None

    def header(self) -> tuple[bytes | None, int | None]:
        """A container's optional `$type` and `#count`; without a count, the reader is left before the
        first item (or the closing marker)."""
        peek = self.stream.peek(1)[:1] if hasattr(self.stream, "peek") else b""
        if peek not in (b"$", b"#"):
            return None, None
        typed = None
        if self.read(1) == b"$":
            typed = self.read(1)
            if self.read(1) != b"#":
                raise self.fail("a typed container without a count")
        return typed, self.length()
