"""Reading hostile files: a reader that never returns more than a budget, exact reads that name the
file when it is short, and text values checked before they become metadata."""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from modelpack.errors import IntegrityError, MalformedFileError
from modelpack.oci import jsontext

MAX_TEXT = 256  # a metadata value read from a file (a family, a license, a class name)


class CappedReader:
    """A binary stream that yields at most `limit` bytes in all, whatever a caller asks for: a length
    field of 2**63 read from a file costs a short read, never a 2**63-byte allocation."""

    def __init__(self, stream: BinaryIO, limit: int, what: str) -> None:
        """Args:
            stream: the file, opened in binary mode.
            limit: the most bytes this reader returns.
            what: names the file in errors (its path relative to the model directory).
        """
        self._stream = stream
        self._left = limit
        self.what = what

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left of the budget when negative)."""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(size)
        self._left -= len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        """One line, cut at the budget (pickle's text opcodes read lines)."""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.readline(size)
        self._left -= len(data)
        return data

    def tell(self) -> int:
        return self._stream.tell()

    def exact(self, size: int, field: str) -> bytes:
        """Exactly `size` bytes.

        Raises:
            MalformedFileError: the file (or the budget) ends first.
        """
        data = self.read(size)
        if len(data) != size:
            raise MalformedFileError(f"{self.what}: truncated header ({field}: expected {size} bytes, "
                                     f"found {len(data)})")
        return data

    def skip(self, size: int, field: str, counted: bool = True) -> None:
        """Move past `size` bytes without reading them (seeking), within the file and the budget.

        Args:
            size: the bytes passed over.
            field: what they are, for the error.
            counted: False when seeking costs nothing the budget bounds (bulk data no reader looks at).

        Raises:
            MalformedFileError: that would pass the end of the file or the budget.
        """
        here = self._stream.tell()
        end = os.fstat(self._stream.fileno()).st_size
        if size < 0 or (counted and size > self._left) or here + size > end:
            raise MalformedFileError(f"{self.what}: truncated header ({field}: {size} bytes past the end)")
        self._stream.seek(size, os.SEEK_CUR)
        if counted:
            self._left -= size


def parse_json(data: bytes, what: str, limit: int) -> Any:
    """JSON from a local file, parsed by the guarded parser (depth, NaN, huge integers, UTF-8).

    Raises:
        MalformedFileError: not JSON, or over `limit` bytes.
    """
    try:
        return jsontext.parse(data, what, limit)
    except IntegrityError as exc:
        raise MalformedFileError(str(exc)) from None


def short_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """`value` if it is printable text of at most `limit` characters, else None (left out)."""
    if isinstance(value, str) and value.strip() and len(value) <= limit and value.isprintable():
        return value.strip()
    return None


def text_list(value: Any, most: int = 100) -> list[str]:
    """A string or a list of strings as a list of short printable texts (others, and any past `most`,
    left out)."""
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [text for item in items[:most] if (text := short_text(item)) is not None]
